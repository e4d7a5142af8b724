"""The repository's ``.github/wheelwatch.yml`` as the App reads it: from a place the pull
request cannot change, failing closed where asked, and errors said in the check run (issue #9,
items 9 to 11)."""

from __future__ import annotations

from app_fixtures import Bot
from fake_github import REPO, FakeGitHub, webhook

WORKFLOW = ".github/workflows/ci.yml"
CONFIG = ".github/wheelwatch.yml"
AFTER = "6113728f27ae82c7b1a177c8d03f9e96e0adf246"  # push.5's commit


def push_of(path: str) -> dict[str, object]:
    data = webhook("push.5")
    data["commits"][0]["added"] = []
    data["commits"][0]["modified"] = [path]
    return data


async def test_unanalysable_workflow_fails_the_check_when_the_repository_asked_for_failure(
    bot: Bot, github: FakeGitHub
) -> None:
    github.add_file(REPO, AFTER, CONFIG, "check-conclusion: failure\n")
    github.add_file(REPO, AFTER, WORKFLOW, "jobs: [unclosed\n")

    await bot.deliver("push", push_of(WORKFLOW))
    await bot.settle()

    [run] = github.check_runs.values()
    assert (run.status, run.conclusion) == ("completed", "failure")


async def test_config_nested_thousands_deep_is_named_in_the_check_run(
    bot: Bot, github: FakeGitHub
) -> None:
    github.add_file(REPO, AFTER, CONFIG, "disable: " + "[" * 5000 + "]" * 5000 + "\n")
    github.add_file(REPO, AFTER, WORKFLOW, "on: push\njobs: {}\n")

    await bot.deliver("push", push_of(WORKFLOW))
    await bot.settle()

    [run] = github.check_runs.values()
    assert run.status == "completed"
    assert "configuration was ignored" in run.output["summary"]
    assert "nested" in run.output["summary"]

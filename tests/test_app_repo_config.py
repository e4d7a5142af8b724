"""The repository's ``.github/wheelwatch.yml`` as the App reads it: from a place the pull
request cannot change, failing closed where asked, and errors said in the check run (issue #9,
items 9 to 11)."""

from __future__ import annotations

from app_fixtures import Bot
from fake_github import (
    HEAD_SHA,
    REPO,
    UNSAFE_WORKFLOW,
    FakeGitHub,
    added_patch,
    pull_request_payload,
    webhook,
)

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


BASE_SHA = "f95f852bd8fca8fcc58a9a2d6c842781e32a215e"  # pull_request.opened.2's base


def open_pull_with(github: FakeGitHub, files: dict[str, str]) -> None:
    for path, text in files.items():
        github.add_file(REPO, HEAD_SHA, path, text)
    github.add_pull(
        REPO,
        2,
        [
            {"filename": path, "status": "added", "patch": added_patch(text)}
            for path, text in files.items()
        ],
    )


async def test_pull_request_cannot_switch_the_check_off_with_its_own_config(
    bot: Bot, github: FakeGitHub
) -> None:
    open_pull_with(github, {CONFIG: "disable: [WW001]\n", WORKFLOW: UNSAFE_WORKFLOW})

    await bot.deliver("pull_request", pull_request_payload())
    await bot.settle()

    [review] = github.reviews(REPO, 2)
    assert "WW001" in review["_comments"][0]["body"]
    [run] = github.check_runs.values()
    assert [a["title"] for a in run.annotations] == ["WW001 prerelease-cache-key"]


async def test_pull_request_is_judged_by_its_base_branch_config(
    bot: Bot, github: FakeGitHub
) -> None:
    github.add_file(REPO, BASE_SHA, CONFIG, "check-conclusion: failure\n")
    open_pull_with(github, {WORKFLOW: UNSAFE_WORKFLOW})

    await bot.deliver("pull_request", pull_request_payload())
    await bot.settle()

    [run] = github.check_runs.values()
    assert run.conclusion == "failure"


async def test_pull_request_that_changes_the_config_is_told_so_in_review_and_check(
    bot: Bot, github: FakeGitHub
) -> None:
    open_pull_with(github, {CONFIG: "disable: [WW001]\n", WORKFLOW: UNSAFE_WORKFLOW})

    await bot.deliver("pull_request", pull_request_payload())
    await bot.settle()

    [review] = github.reviews(REPO, 2)
    [run] = github.check_runs.values()
    for text in (review["body"], run.output["summary"]):
        assert f"This pull request changes `{CONFIG}`" in text


async def test_push_to_another_branch_is_judged_by_the_default_branch_config(
    bot: Bot, github: FakeGitHub
) -> None:
    github.add_file(REPO, "master", CONFIG, "check-conclusion: failure\n")
    github.add_file(REPO, AFTER, CONFIG, "disable: [WW001]\n")
    github.add_file(REPO, AFTER, WORKFLOW, UNSAFE_WORKFLOW)
    payload = push_of(WORKFLOW)
    payload["ref"] = "refs/heads/feature"

    await bot.deliver("push", payload)
    await bot.settle()

    [run] = github.check_runs.values()
    assert (run.conclusion, len(run.annotations)) == ("failure", 1)


async def test_check_suite_of_a_pull_request_is_judged_by_its_base_config(
    bot: Bot, github: FakeGitHub
) -> None:
    github.add_file(REPO, BASE_SHA, CONFIG, "check-conclusion: failure\n")
    open_pull_with(github, {CONFIG: "disable: [WW001]\n", WORKFLOW: UNSAFE_WORKFLOW})
    payload = webhook("check_suite.requested.1")
    payload["check_suite"]["head_sha"] = HEAD_SHA
    payload["check_suite"]["pull_requests"] = [
        {"number": 2, "base": {"ref": "master", "sha": BASE_SHA}, "head": {"sha": HEAD_SHA}}
    ]

    await bot.deliver("check_suite", payload)
    await bot.settle()

    [run] = github.check_runs.values()
    assert (run.conclusion, len(run.annotations)) == ("failure", 1)

"""Pushes and check re-runs: a check run with annotations for the workflows a commit changes."""

from __future__ import annotations

import textwrap
from collections import Counter
from typing import Any

from app_fixtures import Bot
from fake_github import APP_ID, REPO, UNSAFE_WORKFLOW, FakeGitHub, webhook

from bot.app.server import SERVICE

WORKFLOW = ".github/workflows/ci.yml"
AFTER = "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
CREATE_CHECK = "POST /repos/{owner}/{repo}/check-runs"
UPDATE_CHECK = "PATCH /repos/{owner}/{repo}/check-runs/{check_run_id}"
TOKEN = "POST /app/installations/{installation_id}/access_tokens"
TREE = "GET /repos/{owner}/{repo}/git/trees/{tree_sha}"
BLOB = "GET /repos/{owner}/{repo}/git/blobs/{file_sha}"


def push_payload(*, added: list[str] = (), modified: list[str] = ()) -> dict[str, Any]:  # type: ignore[assignment]
    data = webhook("push.5")  # a branch push with one commit and an installation
    data["commits"][0]["added"] = list(added)
    data["commits"][0]["modified"] = list(modified)
    return data


def many_jobs_workflow(jobs: int) -> str:
    """One unsafe cache per job: ``jobs`` findings."""
    job = textwrap.dedent(
        """\
          job{n}:
            runs-on: ubuntu-latest
            steps:
              - uses: actions/setup-python@v6
                with:
                  python-version: "3.16-dev"
              - uses: actions/cache@v5
                with:
                  path: ~/.cache/pip
                  key: pip-3.16-dev-${{{{ hashFiles('requirements.txt') }}}}
        """
    )
    return "on: push\njobs:\n" + textwrap.indent(
        "".join(job.format(n=n) for n in range(jobs)), "  "
    )


async def test_push_with_an_unsafe_workflow_gets_a_check_run_with_annotations(
    bot: Bot, github: FakeGitHub
) -> None:
    github.add_file(REPO, AFTER, WORKFLOW, UNSAFE_WORKFLOW)

    await bot.deliver("push", push_payload(modified=[WORKFLOW, "README.md"]))
    await bot.settle()

    [run] = github.check_runs.values()
    assert run.request["head_sha"] == AFTER
    assert (run.status, run.conclusion) == ("completed", "neutral")
    assert [a["title"] for a in run.annotations] == ["WW001 prerelease-cache-key"]
    assert run.output["title"] == "1 Python cache problem found"


async def test_push_to_a_repository_without_workflows_reads_the_tree_and_posts_no_check(
    bot: Bot, github: FakeGitHub
) -> None:
    response = await bot.deliver("push", push_payload(added=["README.md"]))
    await bot.settle()

    assert response.status == 202
    assert github.count() == Counter({TOKEN: 1, TREE: 1})
    assert github.check_runs == {}


async def test_tag_pushes_and_deletions_cost_no_github_call(bot: Bot, github: FakeGitHub) -> None:
    for name in ("push.1", "push.4", "push.7"):
        await bot.deliver("push", webhook(name))
    deleted = push_payload(modified=[WORKFLOW])
    deleted["deleted"] = True
    await bot.deliver("push", deleted)
    await bot.settle()

    assert github.calls == []


async def test_action_definitions_anywhere_are_checked(bot: Bot, github: FakeGitHub) -> None:
    path = "actions/setup/action.yml"
    github.add_file(REPO, AFTER, path, "name: setup\nruns:\n  using: composite\n  steps: []\n")

    await bot.deliver("push", push_payload(added=[path]))
    await bot.settle()

    [run] = github.check_runs.values()
    assert run.conclusion == "success"


async def test_more_than_fifty_annotations_are_sent_fifty_per_request(
    bot: Bot, github: FakeGitHub
) -> None:
    paths = [f".github/workflows/ci{n}.yml" for n in range(3)]
    for path in paths:
        github.add_file(REPO, AFTER, path, many_jobs_workflow(20))

    await bot.deliver("push", push_payload(added=paths))
    await bot.settle()

    [run] = github.check_runs.values()
    assert len(run.annotations) == 60
    assert [len(u.get("output", {}).get("annotations", [])) for u in run.updates] == [50, 10]
    assert [u.get("status") for u in run.updates] == [None, "completed"]


async def test_push_and_check_suite_for_one_commit_make_one_check_run(
    bot: Bot, github: FakeGitHub
) -> None:
    github.add_file(REPO, AFTER, WORKFLOW, UNSAFE_WORKFLOW)
    suite = webhook("check_suite.requested.1")
    suite["check_suite"]["head_sha"] = AFTER

    await bot.deliver("push", push_payload(modified=[WORKFLOW]))
    await bot.deliver("check_suite", suite)
    await bot.settle()

    assert github.count()[CREATE_CHECK] == 1


async def test_check_suite_rerequested_runs_the_analysis_again(
    bot: Bot, github: FakeGitHub
) -> None:
    suite = webhook("check_suite.rerequested.1")
    data = suite["check_suite"]
    sha, number = data["head_sha"], data["pull_requests"][0]["number"]
    github.add_file(REPO, sha, WORKFLOW, UNSAFE_WORKFLOW)
    github.add_pull(REPO, number, [{"filename": WORKFLOW, "status": "modified"}])

    await bot.deliver("check_suite", suite)
    await bot.deliver("check_suite", suite, delivery_id="another")
    await bot.settle()

    assert github.count()[CREATE_CHECK] == 2
    assert all(run.conclusion == "neutral" for run in github.check_runs.values())


async def test_check_suite_checks_every_workflow_of_its_commit_without_comparing(
    bot: Bot, github: FakeGitHub
) -> None:
    suite = webhook("check_suite.requested.1")
    sha = suite["check_suite"]["head_sha"]
    github.add_file(REPO, sha, WORKFLOW, UNSAFE_WORKFLOW)
    github.add_file(REPO, sha, ".github/workflows/other.yml", UNSAFE_WORKFLOW)

    await bot.deliver("check_suite", suite)
    await bot.settle()

    [run] = github.check_runs.values()
    assert {a["path"] for a in run.annotations} == {WORKFLOW, ".github/workflows/other.yml"}
    assert "GET /repos/{owner}/{repo}/compare/{basehead}" not in github.count()


async def test_check_run_rerequested_for_our_check_runs_again(bot: Bot, github: FakeGitHub) -> None:
    payload = webhook("check_run.rerequested.1")
    run = payload["check_run"]
    run["name"], run["app"]["id"] = "wheelwatch", int(APP_ID)
    github.add_file(REPO_OF(payload), run["head_sha"], WORKFLOW, UNSAFE_WORKFLOW)

    await bot.deliver("check_run", payload)
    await bot.settle()

    assert github.count()[CREATE_CHECK] == 1


async def test_check_run_rerequested_for_another_apps_check_is_ignored(
    bot: Bot, github: FakeGitHub
) -> None:
    await bot.deliver("check_run", webhook("check_run.rerequested.1"))
    await bot.settle()

    assert github.calls == []
    assert bot.app[SERVICE].metrics.deliveries[("check_run", "processed")] == 1


def REPO_OF(payload: dict[str, Any]) -> str:
    return str(payload["repository"]["full_name"])


async def test_push_call_counts(bot: Bot, github: FakeGitHub) -> None:
    github.add_file(REPO, AFTER, WORKFLOW, UNSAFE_WORKFLOW)

    await bot.deliver("push", push_payload(modified=[WORKFLOW]))
    await bot.settle()

    assert github.count() == Counter(
        {
            TOKEN: 1,
            TREE: 1,
            BLOB: 1,
            CREATE_CHECK: 1,
            UPDATE_CHECK: 1,
        }
    )

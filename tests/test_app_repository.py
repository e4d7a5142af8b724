"""The repository is the unit: install, push and pull request check every workflow of the
commit, read through one tree call and the content-addressed analysis cache."""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

import pytest
from app_fixtures import Bot
from fake_github import (
    REPO,
    SAFE_WORKFLOW,
    UNSAFE_WORKFLOW,
    FakeGitHub,
    added_patch,
    pull_request_payload,
    webhook,
)

from bot.app.server import SERVICE

WORKFLOW = ".github/workflows/ci.yml"
OTHER = ".github/workflows/other.yml"
TOKEN = "POST /app/installations/{installation_id}/access_tokens"
TREE = "GET /repos/{owner}/{repo}/git/trees/{tree_sha}"
BLOB = "GET /repos/{owner}/{repo}/git/blobs/{file_sha}"
CREATE_CHECK = "POST /repos/{owner}/{repo}/check-runs"
UPDATE_CHECK = "PATCH /repos/{owner}/{repo}/check-runs/{check_run_id}"

CALLER = """\
on: push
jobs:
  test:
    uses: ./.github/workflows/reusable.yml
    with:
      python-version: "3.16-dev"
"""

REUSABLE = """\
on:
  workflow_call:
    inputs:
      python-version:
        type: string
        required: true
jobs:
  run:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/setup-python@v6
        with:
          python-version: ${{ inputs.python-version }}
      - uses: actions/cache@v5
        with:
          path: ~/.cache/pip
          key: pip-${{ inputs.python-version }}
"""


def installation_payload(repositories: list[str]) -> dict[str, Any]:
    data = webhook("installation.created.2")
    data["repositories"] = [
        {"id": n, "node_id": "R", "name": name.split("/")[1], "full_name": name, "private": False}
        for n, name in enumerate(repositories)
    ]
    return data


def push_payload(sha: str, *, branch: str = "master") -> dict[str, Any]:
    data = webhook("push.5")
    data.update(ref=f"refs/heads/{branch}", after=sha)
    return data


def runs_by_repo(github: FakeGitHub) -> dict[str, Any]:
    return {run.repo: run for run in github.check_runs.values()}


async def test_install_checks_the_default_branch_of_every_repository_with_workflows(
    bot: Bot, github: FakeGitHub
) -> None:
    for name, files in {
        "octo/unsafe": {WORKFLOW: UNSAFE_WORKFLOW, "README.md": "hi"},
        "octo/clean": {WORKFLOW: SAFE_WORKFLOW},
        "octo/no-workflows": {"README.md": "hi"},
    }.items():
        github.git.default_branches[name] = "main"
        github.git.commit_files(name, files, branch="main")

    await bot.deliver(
        "installation", installation_payload(["octo/unsafe", "octo/clean", "octo/no-workflows"])
    )
    await bot.settle()

    runs = runs_by_repo(github)
    assert set(runs) == {"octo/unsafe", "octo/clean"}
    unsafe, clean = runs["octo/unsafe"], runs["octo/clean"]
    assert unsafe.request["head_sha"] == github.git.branch_head("octo/unsafe", "main")
    assert [a["title"] for a in unsafe.annotations] == ["WW001 prerelease-cache-key"]
    assert (unsafe.conclusion, clean.conclusion) == ("neutral", "success")


async def test_install_skips_a_repository_it_cannot_read_and_checks_the_others(
    bot: Bot, github: FakeGitHub, caplog: pytest.LogCaptureFixture
) -> None:
    github.git.default_branches["octo/unsafe"] = "main"
    github.git.commit_files("octo/unsafe", {WORKFLOW: UNSAFE_WORKFLOW}, branch="main")
    # "octo/gone" is unknown to the fake: 404.

    with caplog.at_level(logging.WARNING):
        await bot.deliver("installation", installation_payload(["octo/gone", "octo/unsafe"]))
        await bot.settle()

    assert set(runs_by_repo(github)) == {"octo/unsafe"}
    assert "octo/gone skipped" in caplog.text
    assert bot.app[SERVICE].metrics.deliveries[("installation", "processed")] == 1


async def test_repositories_added_to_an_installation_are_checked(
    bot: Bot, github: FakeGitHub
) -> None:
    github.git.default_branches["Codertocat/Space"] = "trunk"
    github.git.commit_files("Codertocat/Space", {WORKFLOW: UNSAFE_WORKFLOW}, branch="trunk")

    await bot.deliver("installation_repositories", webhook("installation_repositories.added.1"))
    await bot.settle()

    assert set(runs_by_repo(github)) == {"Codertocat/Space"}


async def test_a_push_that_changes_no_workflow_reads_no_workflow_again(
    bot: Bot, github: FakeGitHub
) -> None:
    first = github.git.commit_files(REPO, {WORKFLOW: UNSAFE_WORKFLOW, OTHER: SAFE_WORKFLOW})
    second = github.git.commit_files(REPO, {"README.md": "more words"}, parent=first)
    await bot.deliver("push", push_payload(first))
    await bot.settle()
    before = len(github.calls)

    await bot.deliver("push", push_payload(second))
    await bot.settle()

    assert Counter(call.operation for call in github.calls[before:]) == Counter(
        {TREE: 1, CREATE_CHECK: 1, UPDATE_CHECK: 1}
    )
    run = runs_by_repo(github)[REPO]  # the latest
    assert run.request["head_sha"] == second
    assert [a["path"] for a in run.annotations] == [WORKFLOW]


async def test_a_push_that_changes_one_workflow_reads_only_that_one(
    bot: Bot, github: FakeGitHub
) -> None:
    first = github.git.commit_files(REPO, {WORKFLOW: UNSAFE_WORKFLOW, OTHER: SAFE_WORKFLOW})
    second = github.git.commit_files(REPO, {OTHER: SAFE_WORKFLOW + "# edited\n"}, parent=first)
    await bot.deliver("push", push_payload(first))
    await bot.settle()
    before = len(github.calls)

    await bot.deliver("push", push_payload(second))
    await bot.settle()

    assert Counter(call.operation for call in github.calls[before:])[BLOB] == 1


async def test_a_reusable_workflow_is_analysed_with_the_pre_release_its_caller_passes(
    bot: Bot, github: FakeGitHub
) -> None:
    reusable = ".github/workflows/reusable.yml"
    sha = github.git.commit_files(REPO, {WORKFLOW: CALLER, reusable: REUSABLE})

    await bot.deliver("push", push_payload(sha))
    await bot.settle()

    [run] = github.check_runs.values()
    assert [(a["path"], a["title"]) for a in run.annotations] == [
        (reusable, "WW001 prerelease-cache-key")
    ]
    assert "3.16-dev" in run.annotations[0]["message"]


async def test_a_pull_request_review_speaks_only_of_changed_files_the_check_of_all(
    bot: Bot, github: FakeGitHub
) -> None:
    from fake_github import HEAD_SHA

    github.add_file(REPO, HEAD_SHA, WORKFLOW, UNSAFE_WORKFLOW)
    github.add_file(REPO, HEAD_SHA, OTHER, UNSAFE_WORKFLOW)  # unsafe, but not changed here
    patch = added_patch(UNSAFE_WORKFLOW)
    github.add_pull(REPO, 2, [{"filename": WORKFLOW, "status": "added", "patch": patch}])

    await bot.deliver("pull_request", pull_request_payload())
    await bot.settle()

    [review] = github.reviews(REPO, 2)
    assert {comment["path"] for comment in review["_comments"]} == {WORKFLOW}
    assert OTHER not in review["body"]
    [run] = github.check_runs.values()
    assert {a["path"] for a in run.annotations} == {WORKFLOW, OTHER}


async def test_the_check_run_says_which_release_table_it_used(bot: Bot, github: FakeGitHub) -> None:
    sha = github.git.commit_files(REPO, {WORKFLOW: UNSAFE_WORKFLOW})

    await bot.deliver("push", push_payload(sha))
    await bot.settle()

    [run] = github.check_runs.values()
    assert "the table shipped with wheelwatch" in run.output["summary"]


async def test_an_invalid_config_in_the_tree_is_reported_and_the_defaults_apply(
    bot: Bot, github: FakeGitHub
) -> None:
    sha = github.git.commit_files(
        REPO, {WORKFLOW: UNSAFE_WORKFLOW, ".github/wheelwatch.yml": "colour: blue\n"}
    )

    await bot.deliver("push", push_payload(sha))
    await bot.settle()

    [run] = github.check_runs.values()
    assert "configuration was ignored" in run.output["summary"]
    assert "'colour'" in run.output["summary"]
    assert len(run.annotations) == 1


async def test_a_blob_answer_that_is_not_json_is_not_remembered(
    bot: Bot, github: FakeGitHub
) -> None:
    sha = github.git.commit_files(REPO, {WORKFLOW: UNSAFE_WORKFLOW})
    github.fail("GET", r"/git/blobs/", 200, body="<html>Sign in</html>")
    await bot.deliver("push", push_payload(sha))
    await bot.settle()

    await bot.deliver(
        "check_suite",
        {
            **webhook("check_suite.rerequested.1"),
            "check_suite": {"head_sha": sha, "pull_requests": []},
        },
    )
    await bot.settle()

    first, second = github.check_runs.values()
    assert first.output["title"] == "1 workflow file could not be analysed"
    assert [a["title"] for a in second.annotations] == ["WW001 prerelease-cache-key"]


COMPOSITE = """\
name: setup
inputs:
  python-version:
    required: true
runs:
  using: composite
  steps:
    - uses: actions/setup-python@v6
      with:
        python-version: ${{ inputs.python-version }}
    - uses: actions/cache@v5
      with:
        path: ~/.cache/pip
        key: pip-${{ inputs.python-version }}
"""


@pytest.mark.parametrize("prefix", ["./", "$/"])  # $/: GitHub's self-repository syntax
@pytest.mark.parametrize("action_dir", [".github/actions/setup", ""])
async def test_a_composite_action_is_analysed_with_the_pre_release_its_caller_passes(
    prefix: str, action_dir: str, bot: Bot, github: FakeGitHub
) -> None:
    caller = (
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
        f"      - uses: {prefix}{action_dir}\n        with:\n          python-version: '3.16-dev'\n"
    )
    action = f"{action_dir}/action.yml".lstrip("/")
    sha = github.git.commit_files(REPO, {WORKFLOW: caller, action: COMPOSITE})

    await bot.deliver("push", push_payload(sha))
    await bot.settle()

    [run] = github.check_runs.values()
    assert [(a["path"], a["title"]) for a in run.annotations] == [
        (action, "WW001 prerelease-cache-key")
    ]

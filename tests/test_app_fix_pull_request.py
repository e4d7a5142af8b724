"""The fix as a pull request: the "Fix" button (and ``fix-pull-request: automatic``) opens one
pull request on ``wheelwatch/fix-python-caches`` whose files are clean, updates it rather
than opening a second, and never overwrites anyone's work."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from app_fixtures import Bot
from fake_github import (
    APP_ID,
    REPO,
    SAFE_WORKFLOW,
    UNSAFE_WORKFLOW,
    FakeGitHub,
    pull_request_payload,
    webhook,
)
from support import analyse

from bot.app.fix_pull_request import FIX_ACTION, FIX_BRANCH

WORKFLOW = ".github/workflows/ci.yml"
OTHER = ".github/workflows/other.yml"
CREATE_REF = "POST /repos/{owner}/{repo}/git/refs"
CREATE_PULL = "POST /repos/{owner}/{repo}/pulls"
UPDATE_PULL = "PATCH /repos/{owner}/{repo}/pulls/{pull_number}"


def unsafe_repository(github: FakeGitHub, extra: dict[str, str] | None = None) -> str:
    """REPO with an unsafe and a clean workflow on its default branch, ``main``; its head."""
    github.git.default_branches[REPO] = "main"
    files = {WORKFLOW: UNSAFE_WORKFLOW, OTHER: SAFE_WORKFLOW, "README.md": "words\r\n"}
    return github.git.commit_files(REPO, {**files, **(extra or {})}, branch="main")


def push_payload(sha: str) -> dict[str, Any]:
    data = webhook("push.5")
    data.update(ref="refs/heads/main", after=sha)
    data["repository"]["default_branch"] = "main"
    return data


def fix_pressed(github: FakeGitHub, sha: str) -> dict[str, Any]:
    """``check_run.requested_action`` for the App's check run on ``sha``."""
    [run] = [run for run in github.check_runs.values() if run.request["head_sha"] == sha]
    data = webhook("check_run.requested_action.2")
    data["installation"] = {"id": 1, "node_id": "I"}
    data["requested_action"] = {"identifier": "fix"}
    data["repository"]["default_branch"] = "main"
    check = data["check_run"]
    check.update(id=run.id, name="wheelwatch", head_sha=sha, output=dict(run.output))
    check["app"]["id"] = int(APP_ID)
    check["check_suite"]["head_branch"] = "main"
    return data


async def checked(bot: Bot, github: FakeGitHub, sha: str) -> None:
    await bot.deliver("push", push_payload(sha))
    await bot.settle()


def fix_branch_files(github: FakeGitHub) -> dict[str, str]:
    head = github.git.branch_head(REPO, FIX_BRANCH)
    assert head is not None, "no fix branch"
    return github.git.files_at(head)


def the_check_run(github: FakeGitHub, sha: str) -> Any:
    [run] = [run for run in github.check_runs.values() if run.request["head_sha"] == sha]
    return run


async def test_a_check_run_with_a_proven_fix_offers_the_fix_button(
    bot: Bot, github: FakeGitHub
) -> None:
    sha = unsafe_repository(github)

    await checked(bot, github, sha)

    assert the_check_run(github, sha).updates[-1]["actions"] == [FIX_ACTION]


async def test_a_clean_check_run_offers_no_fix_button(bot: Bot, github: FakeGitHub) -> None:
    github.git.default_branches[REPO] = "main"
    sha = github.git.commit_files(REPO, {OTHER: SAFE_WORKFLOW}, branch="main")

    await checked(bot, github, sha)

    assert "actions" not in the_check_run(github, sha).updates[-1]


async def test_pressing_fix_opens_a_pull_request_whose_files_are_clean(
    bot: Bot, github: FakeGitHub
) -> None:
    sha = unsafe_repository(github)
    await checked(bot, github, sha)

    await bot.deliver("check_run", fix_pressed(github, sha))
    await bot.settle()

    [pull] = github.open_pulls(REPO)
    assert (pull["head"]["ref"], pull["base"]["ref"]) == (FIX_BRANCH, "main")
    assert "WW001" in pull["body"] and "docs" in pull["body"]
    fixed = fix_branch_files(github)
    assert analyse(fixed[WORKFLOW]).findings == ()
    assert analyse(fixed[WORKFLOW]).error is None
    head = github.git.branch_head(REPO, FIX_BRANCH)
    assert github.git.commits[head or ""].parents == [sha]
    assert "opened pull request" in the_check_run(github, sha).output["summary"]


async def test_the_fix_commit_touches_no_file_the_fix_does_not_change(
    bot: Bot, github: FakeGitHub
) -> None:
    sha = unsafe_repository(github)
    await checked(bot, github, sha)

    await bot.deliver("check_run", fix_pressed(github, sha))
    await bot.settle()

    before, after = github.git.files_at(sha), fix_branch_files(github)
    assert {path for path in after if after[path] != before.get(path)} == {WORKFLOW}
    assert set(after) == set(before)
    assert after["README.md"] == "words\r\n"


async def test_the_default_branch_is_never_written(bot: Bot, github: FakeGitHub) -> None:
    sha = unsafe_repository(github)
    await checked(bot, github, sha)

    await bot.deliver("check_run", fix_pressed(github, sha))
    await bot.settle()

    assert github.git.branch_head(REPO, "main") == sha
    written = [call.body["ref"] for call in github.calls if call.operation == CREATE_REF]
    assert written == [f"refs/heads/{FIX_BRANCH}"]


async def test_pressing_fix_twice_updates_the_one_pull_request(
    bot: Bot, github: FakeGitHub
) -> None:
    sha = unsafe_repository(github)
    await checked(bot, github, sha)

    await bot.deliver("check_run", fix_pressed(github, sha))
    await bot.settle()
    await bot.deliver("check_run", fix_pressed(github, sha))
    await bot.settle()

    assert len(github.open_pulls(REPO)) == 1
    assert github.count()[CREATE_PULL] == 1
    assert github.count()[UPDATE_PULL] == 1
    summary = the_check_run(github, sha).output["summary"]
    assert "updated pull request" in summary and "opened pull request" not in summary
    assert analyse(fix_branch_files(github)[WORKFLOW]).findings == ()


async def test_a_foreign_commit_on_the_fix_branch_is_not_overwritten(
    bot: Bot, github: FakeGitHub
) -> None:
    sha = unsafe_repository(github)
    await checked(bot, github, sha)
    await bot.deliver("check_run", fix_pressed(github, sha))
    await bot.settle()
    theirs = github.git.commit_files(
        REPO, {"NOTES.md": "mine"}, branch=FIX_BRANCH, message="my own work"
    )

    await bot.deliver("check_run", fix_pressed(github, sha))
    await bot.settle()

    assert github.git.branch_head(REPO, FIX_BRANCH) == theirs
    assert "did not make" in the_check_run(github, sha).output["summary"]
    assert github.count()[UPDATE_PULL] == 0


async def test_a_403_on_the_branch_creation_is_explained_in_the_check_run_once(
    bot: Bot, github: FakeGitHub
) -> None:
    sha = unsafe_repository(github)
    await checked(bot, github, sha)
    github.fail(
        "POST", r"/git/refs$", 403, body={"message": "Resource not accessible by integration"}
    )

    await bot.deliver("check_run", fix_pressed(github, sha))
    await bot.settle()

    assert github.count()[CREATE_REF] == 1  # no retry loop
    assert github.open_pulls(REPO) == []
    summary = the_check_run(github, sha).output["summary"]
    assert "Contents: write" in summary and "Workflows: write" in summary
    assert bot.waits == []


async def test_a_lost_answer_to_the_branch_creation_opens_one_pull_request(
    bot: Bot, github: FakeGitHub
) -> None:
    sha = unsafe_repository(github)
    await checked(bot, github, sha)
    github.lose("POST", r"/git/refs$")

    await bot.deliver("check_run", fix_pressed(github, sha))
    await bot.settle()

    assert github.count()[CREATE_REF] == 1
    assert len(github.open_pulls(REPO)) == 1


async def test_a_lost_answer_to_the_pull_request_creation_opens_one(
    bot: Bot, github: FakeGitHub
) -> None:
    sha = unsafe_repository(github)
    await checked(bot, github, sha)
    github.lose("POST", r"/pulls$")

    await bot.deliver("check_run", fix_pressed(github, sha))
    await bot.settle()

    assert github.count()[CREATE_PULL] == 1
    assert len(github.open_pulls(REPO)) == 1
    assert "opened pull request" in the_check_run(github, sha).output["summary"]


async def test_another_apps_requested_action_is_ignored(bot: Bot, github: FakeGitHub) -> None:
    sha = unsafe_repository(github)
    await checked(bot, github, sha)
    payload = fix_pressed(github, sha)
    payload["check_run"]["app"]["id"] = 1

    await bot.deliver("check_run", payload)
    await bot.settle()

    assert github.git.branch_head(REPO, FIX_BRANCH) is None


async def test_automatic_fix_pull_request_is_opened_on_install(
    bot: Bot, github: FakeGitHub
) -> None:
    config = {".github/wheelwatch.yml": "fix-pull-request: automatic\n"}
    sha = unsafe_repository(github, config)
    payload = webhook("installation.created.2")
    payload["repositories"] = [dict(payload["repositories"][0], full_name=REPO)]

    await bot.deliver("installation", payload)
    await bot.settle()

    [pull] = github.open_pulls(REPO)
    assert pull["base"]["ref"] == "main"
    assert analyse(fix_branch_files(github)[WORKFLOW]).findings == ()
    assert "opened pull request" in the_check_run(github, sha).output["summary"]


async def test_without_automatic_no_pull_request_is_opened_on_push(
    bot: Bot, github: FakeGitHub
) -> None:
    sha = unsafe_repository(github)

    await checked(bot, github, sha)

    assert github.open_pulls(REPO) == []
    assert github.git.branch_head(REPO, FIX_BRANCH) is None


async def test_fix_pressed_then_a_re_run_of_the_same_check_while_both_wait_does_both(
    make_bot: Callable[..., Any], github: FakeGitHub
) -> None:
    # A Fix press and a check of the same commit are different work: neither replaces the
    # other in the queue, as a later delivery about a pull request replaces an earlier one.
    bot: Bot = await make_bot(workers=1)
    sha = unsafe_repository(github)
    await checked(bot, github, sha)
    github.add_pull(REPO, 9, [])
    busy, release = github.hold(r"/pulls/9/files")  # the one worker, while both queue up
    await bot.deliver("pull_request", pull_request_payload(number=9))
    await busy.wait()
    pressed = fix_pressed(github, sha)
    rerun = fix_pressed(github, sha)  # "Re-run" on the same check run, on the default branch
    rerun["action"] = "rerequested"
    del rerun["requested_action"]
    rerun["check_run"]["pull_requests"] = rerun["check_run"]["check_suite"]["pull_requests"] = []

    await bot.deliver("check_run", pressed, delivery_id="d-fix")
    await bot.deliver("check_run", rerun, delivery_id="d-rerun")
    release.set()
    await bot.settle()

    assert len(github.open_pulls(REPO)) == 1  # the fix
    assert len([run for run in github.check_runs.values() if run.request["head_sha"] == sha]) == 2

"""Pull requests: one review with applicable suggestions, one check run, no repeats."""

from __future__ import annotations

import re
from collections import Counter

from app_fixtures import Bot
from fake_github import (
    HEAD_SHA,
    REPO,
    SAFE_WORKFLOW,
    UNSAFE_WORKFLOW,
    FakeGitHub,
    added_patch,
    hunk_patch,
    pull_request_payload,
)
from support import analyse

from bot.app.review import Suggestion, apply_suggestion

WORKFLOW = ".github/workflows/ci.yml"
BASE_SHA = "f95f852bd8fca8fcc58a9a2d6c842781e32a215e"  # the payload's base: its config applies
FILES = "GET /repos/{owner}/{repo}/pulls/{pull_number}/files"
CONTENTS = "GET /repos/{owner}/{repo}/contents/{path}"
TOKEN = "POST /app/installations/{installation_id}/access_tokens"
TREE = "GET /repos/{owner}/{repo}/git/trees/{tree_sha}"
BLOB = "GET /repos/{owner}/{repo}/git/blobs/{file_sha}"
CREATE_REVIEW = "POST /repos/{owner}/{repo}/pulls/{pull_number}/reviews"
CREATE_CHECK = "POST /repos/{owner}/{repo}/check-runs"
UPDATE_CHECK = "PATCH /repos/{owner}/{repo}/check-runs/{check_run_id}"
SUGGESTION = re.compile(r"```suggestion\n(.*?)```", re.DOTALL)


def open_pull(github: FakeGitHub, text: str, patch: str | None = None, sha: str = HEAD_SHA) -> None:
    github.add_file(REPO, sha, WORKFLOW, text)
    github.add_pull(
        REPO,
        2,
        [
            {"filename": "README.md", "status": "modified", "patch": "@@ -1 +1 @@\n-a\n+b"},
            {"filename": WORKFLOW, "status": "added", "patch": patch or added_patch(text)},
        ],
    )


async def test_unsafe_workflow_gets_one_review_whose_suggestion_fixes_the_file(
    bot: Bot, github: FakeGitHub
) -> None:
    open_pull(github, UNSAFE_WORKFLOW)

    response = await bot.deliver("pull_request", pull_request_payload())
    await bot.settle()

    assert response.status == 202
    [review] = github.reviews(REPO, 2)
    assert review["commit_id"] == HEAD_SHA
    [comment] = review["_comments"]
    assert (comment["path"], comment["start_line"], comment["line"]) == (WORKFLOW, 12, 17)
    assert comment["side"] == comment["start_side"] == "RIGHT"
    [block] = SUGGESTION.findall(comment["body"])
    fixed = apply_suggestion(UNSAFE_WORKFLOW, Suggestion(12, 17, block.removesuffix("\n")))
    assert analyse(fixed).findings == ()
    assert "<!-- wheelwatch:" in comment["body"]


async def test_unsafe_workflow_gets_a_completed_check_run_with_an_annotation(
    bot: Bot, github: FakeGitHub
) -> None:
    open_pull(github, UNSAFE_WORKFLOW)

    await bot.deliver("pull_request", pull_request_payload())
    await bot.settle()

    [run] = github.check_runs.values()
    assert run.request["head_sha"] == HEAD_SHA
    assert run.request["status"] == "in_progress"
    assert (run.status, run.conclusion) == ("completed", "neutral")
    [annotation] = run.annotations
    assert (annotation["path"], annotation["start_line"]) == (WORKFLOW, 17)
    assert annotation["title"] == "WW001 prerelease-cache-key"


async def test_unsafe_workflow_costs_these_github_calls(bot: Bot, github: FakeGitHub) -> None:
    open_pull(github, UNSAFE_WORKFLOW)

    await bot.deliver("pull_request", pull_request_payload())
    await bot.settle()

    assert github.count() == Counter(
        {
            "GET /app": 1,  # the App's own login, once per process
            TOKEN: 1,
            FILES: 1,
            TREE: 1,  # lists every workflow of the head commit
            CONTENTS: 1,  # .github/wheelwatch.yml at the base commit (absent: 404)
            BLOB: 1,  # the one workflow, never read before
            "GET /repos/{owner}/{repo}/pulls/{pull_number}/comments": 1,
            "GET /repos/{owner}/{repo}/pulls/{pull_number}/reviews": 1,
            CREATE_REVIEW: 1,
            CREATE_CHECK: 1,
            UPDATE_CHECK: 1,
        }
    )


async def test_pull_request_in_a_repository_without_workflows_lists_files_and_reads_the_tree(
    bot: Bot, github: FakeGitHub
) -> None:
    github.add_pull(REPO, 2, [{"filename": "src/app.py", "status": "modified"}])

    await bot.deliver("pull_request", pull_request_payload())
    await bot.settle()

    assert github.count() == Counter({TOKEN: 1, FILES: 1, TREE: 1})
    assert github.check_runs == {}


async def test_installation_token_is_reused_by_the_next_delivery(
    bot: Bot, github: FakeGitHub
) -> None:
    github.add_pull(REPO, 2, [{"filename": "src/app.py", "status": "modified"}])

    await bot.deliver("pull_request", pull_request_payload())
    await bot.deliver("pull_request", pull_request_payload("synchronize"))
    await bot.settle()

    assert github.count() == Counter({TOKEN: 1, FILES: 2, TREE: 1})


async def test_safe_workflow_gets_a_successful_check_and_no_review(
    bot: Bot, github: FakeGitHub
) -> None:
    open_pull(github, SAFE_WORKFLOW)

    await bot.deliver("pull_request", pull_request_payload())
    await bot.settle()

    assert github.reviews(REPO, 2) == []
    [run] = github.check_runs.values()
    assert run.conclusion == "success"


async def test_redelivery_with_the_same_id_is_processed_once(bot: Bot, github: FakeGitHub) -> None:
    open_pull(github, UNSAFE_WORKFLOW)

    first = await bot.deliver("pull_request", pull_request_payload(), delivery_id="abc")
    again = await bot.deliver("pull_request", pull_request_payload(), delivery_id="abc")
    await bot.settle()

    assert (first.status, again.status) == (202, 200)
    assert len(github.reviews(REPO, 2)) == 1
    assert github.count()[FILES] == 1


async def test_a_new_delivery_for_the_same_head_posts_nothing_new(
    bot: Bot, github: FakeGitHub
) -> None:
    open_pull(github, UNSAFE_WORKFLOW)

    await bot.deliver("pull_request", pull_request_payload())
    await bot.settle()
    await bot.deliver("pull_request", pull_request_payload("reopened"))
    await bot.settle()

    assert len(github.reviews(REPO, 2)) == 1
    assert len(github.check_runs) == 1


async def test_synchronize_after_a_fix_says_so_once(bot: Bot, github: FakeGitHub) -> None:
    open_pull(github, UNSAFE_WORKFLOW)
    await bot.deliver("pull_request", pull_request_payload())
    await bot.settle()
    fixed_sha = "f" * 40
    fixed_text = UNSAFE_WORKFLOW.replace(
        "matrix.python-version }}-${{ hashFiles",
        "steps.setup-python.outputs.python-version }}-${{ hashFiles",
    ).replace(
        "      - uses: actions/setup-python@v6\n",
        "      - uses: actions/setup-python@v6\n        id: setup-python\n",
    )
    open_pull(github, fixed_text, sha=fixed_sha)

    await bot.deliver("pull_request", pull_request_payload("synchronize", head_sha=fixed_sha))
    await bot.settle()
    await bot.deliver("pull_request", pull_request_payload("synchronize", head_sha=fixed_sha))
    await bot.settle()

    reviews = github.reviews(REPO, 2)
    assert len(reviews) == 2
    assert "Fixed since the last review" in reviews[1]["body"]
    assert reviews[1]["_comments"] == []
    [run] = [run for run in github.check_runs.values() if run.request["head_sha"] == fixed_sha]
    assert run.conclusion == "success"


async def test_fork_pull_request_reads_workflows_from_the_fork(
    bot: Bot, github: FakeGitHub
) -> None:
    fork = "contributor/Hello-World"
    github.add_pull(
        REPO, 2, [{"filename": WORKFLOW, "status": "added", "patch": added_patch(UNSAFE_WORKFLOW)}]
    )
    github.add_file(fork, HEAD_SHA, WORKFLOW, UNSAFE_WORKFLOW)

    await bot.deliver("pull_request", pull_request_payload(head_repo=fork))
    await bot.settle()

    reads = [call.path for call in github.calls if call.operation in (CONTENTS, TREE, BLOB)]
    # The workflows from the fork; the configuration from the base (a fork's cannot judge it).
    assert [path.split("/git/")[0] for path in reads if "/git/" in path] == [
        f"/repos/{fork}",  # the tree
        f"/repos/{fork}",  # the workflow's blob
    ]
    assert [path for path in reads if "/contents/" in path] == [
        f"/repos/{REPO}/contents/.github/wheelwatch.yml"
    ]
    assert len(github.reviews(REPO, 2)) == 1
    [run] = github.check_runs.values()
    assert run.repo == REPO


async def test_finding_outside_the_diff_goes_in_the_review_body_with_a_diff(
    bot: Bot, github: FakeGitHub
) -> None:
    # The pull request only touches the matrix line; the cache key sits further down.
    open_pull(github, UNSAFE_WORKFLOW, patch=hunk_patch(UNSAFE_WORKFLOW, 5, 11))

    await bot.deliver("pull_request", pull_request_payload())
    await bot.settle()

    [review] = github.reviews(REPO, 2)
    assert review["_comments"] == []
    assert "```diff" in review["body"]
    assert "+          key: ${{ runner.os }}-pip-${{ steps.setup-python" in review["body"]
    assert "<!-- wheelwatch:" in review["body"]


async def test_finding_whose_line_is_in_the_diff_but_fix_is_not_gets_an_inline_diff(
    bot: Bot, github: FakeGitHub
) -> None:
    # Lines 14-20 are shown: the key (17) is, the setup step the fix adds an id to (11) is not.
    open_pull(github, UNSAFE_WORKFLOW, patch=hunk_patch(UNSAFE_WORKFLOW, 14, 18))

    await bot.deliver("pull_request", pull_request_payload())
    await bot.settle()

    [review] = github.reviews(REPO, 2)
    [comment] = review["_comments"]
    assert comment["line"] == 17 and "start_line" not in comment
    assert "```diff" in comment["body"] and "```suggestion" not in comment["body"]


async def test_malformed_workflow_gets_an_error_annotation_and_no_review(
    bot: Bot, github: FakeGitHub
) -> None:
    open_pull(github, "jobs: [unclosed\n  - : :\n")

    response = await bot.deliver("pull_request", pull_request_payload())
    await bot.settle()

    assert response.status == 202
    assert github.reviews(REPO, 2) == []
    [run] = github.check_runs.values()
    assert run.status == "completed"
    [annotation] = run.annotations
    assert annotation["annotation_level"] == "failure"


async def test_a_later_delivery_for_the_same_pull_request_wins(
    bot: Bot, github: FakeGitHub
) -> None:
    open_pull(github, UNSAFE_WORKFLOW)
    newer = "b" * 40
    github.add_file(REPO, newer, WORKFLOW, UNSAFE_WORKFLOW)
    arrived, release = github.hold(r"/pulls/2/files")

    await bot.deliver("pull_request", pull_request_payload("opened"))
    await arrived.wait()
    await bot.deliver("pull_request", pull_request_payload("synchronize", head_sha=newer))
    release.set()
    await bot.settle()

    [review] = github.reviews(REPO, 2)
    assert review["commit_id"] == newer


async def test_repository_config_can_make_the_check_fail(bot: Bot, github: FakeGitHub) -> None:
    open_pull(github, UNSAFE_WORKFLOW)
    github.add_file(REPO, BASE_SHA, ".github/wheelwatch.yml", "check-conclusion: failure\n")

    await bot.deliver("pull_request", pull_request_payload())
    await bot.settle()

    [run] = github.check_runs.values()
    assert run.conclusion == "failure"


async def test_invalid_repository_config_is_reported_and_defaults_apply(
    bot: Bot, github: FakeGitHub
) -> None:
    open_pull(github, UNSAFE_WORKFLOW)
    github.add_file(REPO, BASE_SHA, ".github/wheelwatch.yml", "colour: blue\n")

    await bot.deliver("pull_request", pull_request_payload())
    await bot.settle()

    [run] = github.check_runs.values()
    assert run.conclusion == "neutral"
    assert "colour" in run.output["summary"]

"""Review rendering: anchors only where GitHub accepts them, suggestions that fix the file."""

from __future__ import annotations

import re

from fake_github import UNSAFE_WORKFLOW, added_patch, hunk_patch
from support import analyse

from bot.app.diff import Hunk, hunk_covering, parse_hunks
from bot.app.review import (
    MAX_INLINE_COMMENTS,
    PostedMarkers,
    Suggestion,
    apply_suggestion,
    fenced,
    marker,
    plan_review,
    suggestion_for,
)
from bot.app.workflows import WorkflowFile

SUGGESTION = re.compile(r"```suggestion\n(.*?)```", re.DOTALL)


def workflow_file(
    text: str, patch: str | None, path: str = ".github/workflows/ci.yml"
) -> WorkflowFile:
    return WorkflowFile(path, text, analyse(text), parse_hunks(patch))


def test_hunks_are_read_from_the_new_side_of_the_patch() -> None:
    patch = "@@ -1,3 +1,4 @@\n a\n+b\n c\n d\n@@ -20,2 +21,0 @@\n-x\n-y\n@@ -40 +40 @@\n-p\n+q"

    assert parse_hunks(patch) == (Hunk(1, 4), Hunk(40, 40))


def test_a_range_must_sit_in_one_hunk() -> None:
    hunks = (Hunk(1, 4), Hunk(10, 12))

    assert hunk_covering(hunks, 2, 4) == Hunk(1, 4)
    assert hunk_covering(hunks, 3, 10) is None


def test_file_without_patch_has_no_commentable_line() -> None:
    assert parse_hunks(None) == ()


def test_suggestion_applied_as_github_does_leaves_no_finding() -> None:
    [finding] = analyse(UNSAFE_WORKFLOW).findings
    assert finding.fix is not None

    suggestion = suggestion_for(UNSAFE_WORKFLOW, finding.fix)
    fixed = apply_suggestion(UNSAFE_WORKFLOW, suggestion)

    assert (suggestion.first_line, suggestion.last_line) == (12, 17)
    assert analyse(fixed).findings == ()


def test_suggestion_block_content_round_trips_through_the_comment() -> None:
    plan = plan_review(
        [workflow_file(UNSAFE_WORKFLOW, added_patch(UNSAFE_WORKFLOW))], PostedMarkers()
    )
    assert plan is not None
    [comment] = plan.comments

    [block] = SUGGESTION.findall(comment["body"])
    suggestion = Suggestion(comment["start_line"], comment["line"], block.removesuffix("\n"))

    assert analyse(apply_suggestion(UNSAFE_WORKFLOW, suggestion)).findings == ()


def test_suggestion_spanning_two_hunks_falls_back_to_a_diff() -> None:
    text = UNSAFE_WORKFLOW
    patch = (
        hunk_patch(text, 10, 12) + "\n" + hunk_patch(text, 16, 18).replace("@@ -16,2", "@@ -15,2")
    )

    plan = plan_review([workflow_file(text, patch)], PostedMarkers())

    assert plan is not None
    [comment] = plan.comments
    assert comment["line"] == 17 and "```diff" in comment["body"]


def test_nothing_found_and_nothing_posted_before_means_no_review() -> None:
    text = "on: push\njobs: {}\n"

    assert plan_review([workflow_file(text, added_patch(text))], PostedMarkers()) is None


def test_finding_already_posted_is_not_posted_again() -> None:
    file = workflow_file(UNSAFE_WORKFLOW, added_patch(UNSAFE_WORKFLOW))
    first = plan_review([file], PostedMarkers())
    assert first is not None

    markers = PostedMarkers.from_texts([c["body"] for c in first.comments])

    assert plan_review([file], markers) is None


def test_inline_comments_are_capped_and_the_rest_go_to_the_body() -> None:
    job = UNSAFE_WORKFLOW.split("jobs:\n", 1)[1]
    jobs = "".join(job.replace("  test:", f"  test{n}:", 1) for n in range(MAX_INLINE_COMMENTS + 2))
    text = "name: CI\non: push\njobs:\n" + jobs

    plan = plan_review([workflow_file(text, added_patch(text))], PostedMarkers())

    assert plan is not None
    assert (len(plan.comments), plan.in_body) == (MAX_INLINE_COMMENTS, 2)
    assert plan.body.count("<!-- wheelwatch:") == 2


def test_markers_from_other_runs_are_recognised() -> None:
    text = f"hello {marker('0123456789abcdef', 'WW001', '.github/workflows/a b.yml')} bye"

    markers = PostedMarkers.from_texts([text])

    assert markers.posted == {("0123456789abcdef", ".github/workflows/a b.yml"): "WW001"}


def test_fence_outgrows_backticks_in_the_content() -> None:
    assert fenced("suggestion", "run: echo ```").startswith("````suggestion\n")


def test_fix_diff_of_the_edited_region_equals_the_whole_file_diff() -> None:
    import difflib
    from pathlib import Path

    from test_app_push import many_jobs_workflow

    from bot.app.review import fix_diff
    from bot.engine import apply_edits

    corpus = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "files"
    texts = {path.name: path.read_text() for path in sorted(corpus.glob("*.yml"))}
    texts.update({"unsafe": UNSAFE_WORKFLOW, "many jobs": many_jobs_workflow(12)})
    compared = 0
    for name, text in texts.items():
        for finding in analyse(text).findings:
            if finding.fix is None:
                continue
            whole = difflib.unified_diff(
                text.splitlines(keepends=True),
                apply_edits(text, finding.fix.edits).splitlines(keepends=True),
                "a/ci.yml",
                "b/ci.yml",
                n=2,
            )
            expected = "".join(line if line.endswith("\n") else line + "\n" for line in whole)
            assert fix_diff("ci.yml", text, finding.fix) == expected, name
            compared += 1
    assert compared >= 15

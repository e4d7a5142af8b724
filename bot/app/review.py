"""Rendering a pull-request review: inline comments with suggestions, the rest in the body.

Pure functions over analysed files; the pull request handler posts what they build.
"""

from __future__ import annotations

import bisect
import difflib
import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from bot.app.diff import hunk_covering
from bot.app.workflows import WorkflowFile
from bot.engine import RULES_BY_ID, Finding, Fix, TextEdit, apply_edits

# Reviews with many comments trip GitHub's secondary rate limits (reviewdog caps at 30).
MAX_INLINE_COMMENTS = 30
# GitHub refuses bodies over 65 536 characters.
MAX_BODY_CHARS = 60_000

_MARKER = re.compile(r"<!-- wheelwatch(-fixed)?:([0-9a-f]{16}) (\S+) (.+?) -->")

Key = tuple[str, str]  # (fingerprint, path)


def marker(fingerprint: str, rule_id: str, path: str, *, fixed: bool = False) -> str:
    """The hidden tag that lets a later run recognise what it already posted."""
    kind = "wheelwatch-fixed" if fixed else "wheelwatch"
    return f"<!-- {kind}:{fingerprint} {rule_id} {path.replace('--', '-')} -->"


@dataclass(frozen=True)
class PostedMarkers:
    """Markers found in the pull request's review comments and review bodies."""

    posted: dict[Key, str] = field(default_factory=dict)  # key -> rule id
    fixed: frozenset[Key] = frozenset()

    @classmethod
    def from_texts(cls, texts: Iterable[str]) -> PostedMarkers:
        posted: dict[Key, str] = {}
        fixed: set[Key] = set()
        for text in texts:
            for match in _MARKER.finditer(text):
                key = (match.group(2), match.group(4))
                if match.group(1):
                    fixed.add(key)
                else:
                    posted[key] = match.group(3)
        return cls(posted, frozenset(fixed))


@dataclass(frozen=True)
class Suggestion:
    """Replace lines ``first_line..last_line`` (1-based, inclusive) with ``text``'s lines."""

    first_line: int
    last_line: int
    text: str


@functools.lru_cache(maxsize=4)
def _line_starts(text: str) -> tuple[int, ...]:
    """Offsets where each line starts; computed once per file, not once per finding (2,000
    findings in a 550 kB file made it quadratic)."""
    starts = [0]
    index = text.find("\n")
    while index != -1:
        starts.append(index + 1)
        index = text.find("\n", index + 1)
    return tuple(starts)


def _edited_lines(text: str, fix: Fix, context: int = 0) -> tuple[int, int, int, int]:
    """First and last line (1-based) the fix's edits touch, widened by ``context`` lines,
    and the offsets where those lines begin and end."""
    starts = _line_starts(text)
    line_count = len(starts) - 1 if text.endswith("\n") else len(starts)
    line_count = max(line_count, 1)

    def line_of(offset: int) -> int:
        return min(bisect.bisect_right(starts, offset), line_count)

    first = min(line_of(edit.start) for edit in fix.edits)
    last = max(line_of(edit.end - 1 if edit.end > edit.start else edit.start) for edit in fix.edits)
    first, last = max(1, first - context), min(line_count, last + context)
    begin = starts[first - 1]
    end = starts[last] if last < len(starts) else len(text)
    return first, last, begin, end


def suggestion_for(text: str, fix: Fix) -> Suggestion:
    """The suggestion covering every line the fix's edits touch, as one block."""
    first, last, begin, end = _edited_lines(text, fix)
    region = text[begin:end]
    shifted = [
        TextEdit(edit.start - begin, edit.end - begin, edit.replacement, edit.span)
        for edit in fix.edits
    ]
    replaced = apply_edits(region, shifted)
    if region.endswith("\n") and replaced.endswith("\n"):
        replaced = replaced[:-1]
    return Suggestion(first, last, replaced)


def apply_suggestion(text: str, suggestion: Suggestion) -> str:
    """What GitHub's "Commit suggestion" does to the file."""
    lines = text.splitlines(keepends=True)
    replacement = [line + "\n" for line in suggestion.text.split("\n")] if suggestion.text else []
    before, after = lines[: suggestion.first_line - 1], lines[suggestion.last_line :]
    return "".join(before + replacement + after)


_HUNK_HEADER = re.compile(r"^@@ -(\d+)(,\d+)? \+(\d+)(,\d+)? @@")


def fix_diff(path: str, text: str, fix: Fix, context: int = 2) -> str:
    """The fix as a unified diff, for places where a suggestion cannot go.

    Only the lines the edits touch, and ``context`` lines around them, are compared: the
    same diff as the whole file's, at a cost that does not grow with the file.
    """
    first, _, begin, end = _edited_lines(text, fix, context)
    region = text[begin:end]
    shifted = [
        TextEdit(edit.start - begin, edit.end - begin, edit.replacement, edit.span)
        for edit in fix.edits
    ]
    lines = difflib.unified_diff(
        region.splitlines(keepends=True),
        apply_edits(region, shifted).splitlines(keepends=True),
        f"a/{path}",
        f"b/{path}",
        n=context,
    )

    def placed(match: re.Match[str]) -> str:
        # Line numbers in the region, moved to where the region starts in the file.
        old, new = int(match.group(1)) + first - 1, int(match.group(3)) + first - 1
        return f"@@ -{old}{match.group(2) or ''} +{new}{match.group(4) or ''} @@"

    return "".join(
        _HUNK_HEADER.sub(placed, line) + ("" if line.endswith("\n") else "\n") for line in lines
    )


def fenced(info: str, content: str) -> str:
    """A code block whose fence is longer than any backtick run inside it."""
    longest = max((len(run) for run in re.findall(r"`+", content)), default=0)
    fence = "`" * max(3, longest + 1)
    body = content if content.endswith("\n") or not content else content + "\n"
    return f"{fence}{info}\n{body}{fence}"


def finding_lines(finding: Finding) -> tuple[int, int]:
    """First and last line of the finding (its span's end is exclusive)."""
    span = finding.span
    last = span.end_line if span.end_column > 1 else span.end_line - 1
    return span.line, max(span.line, last)


def explain(finding: Finding) -> str:
    """What is wrong, which Pythons share the cache, and why that crashes."""
    parts = [f"**{finding.rule_id} {finding.rule_name}**: {finding.message}"]
    # The engine's message already names the Pythons that share the cache.
    rule = RULES_BY_ID.get(finding.rule_id)
    if rule is not None:
        parts.append(
            f"<details><summary>Why this can crash</summary>\n\n{rule.explanation}\n\n</details>"
        )
        parts.append(f"Documentation: [{rule.id} {rule.name}]({rule.docs_url})")
    return "\n\n".join(parts)


@dataclass
class ReviewPlan:
    """A review to post: its body and inline comments, in the shape GitHub's API takes."""

    body: str
    comments: list[dict[str, Any]]
    inline: int = 0
    in_body: int = 0
    fixed: int = 0

    def request(self, head_sha: str) -> dict[str, Any]:
        return {
            "commit_id": head_sha,
            "event": "COMMENT",
            "body": self.body,
            "comments": self.comments,
        }


def plan_review(
    files: Iterable[WorkflowFile], markers: PostedMarkers, *, note: str | None = None
) -> ReviewPlan | None:
    """The review for these findings, or None when there is nothing new to say; ``note``
    goes at the end of the body of a review that is posted."""
    files = list(files)
    current: set[Key] = set()
    new: list[tuple[WorkflowFile, Finding]] = []
    for file in files:
        for finding in file.analysis.findings:
            key = (finding.fingerprint, file.path)
            current.add(key)
            if key not in markers.posted:
                new.append((file, finding))
    # Deduplicate findings that share a fingerprint in one file (same step reported twice).
    seen: set[Key] = set()
    unique: list[tuple[WorkflowFile, Finding]] = []
    for file, finding in sorted(new, key=lambda item: (item[0].path, item[1].span)):
        key = (finding.fingerprint, file.path)
        if key not in seen:
            seen.add(key)
            unique.append((file, finding))
    readable = {file.path for file in files if file.analysis.error is None}
    fixed = sorted(
        (key, rule_id)
        for key, rule_id in markers.posted.items()
        if key[1] in readable and key not in current and key not in markers.fixed
    )
    if not unique and not fixed:
        return None

    comments: list[dict[str, Any]] = []
    outside: list[str] = []
    for file, finding in unique:
        comment = _inline_comment(file, finding) if len(comments) < MAX_INLINE_COMMENTS else None
        if comment is not None:
            comments.append(comment)
        else:
            outside.append(_body_entry(file, finding))

    body: list[str] = []
    if unique:
        count = len(unique)
        body.append(
            f"**wheelwatch** found {count} Python cache problem{'s' if count != 1 else ''} "
            "in the workflows this pull request changes."
        )
        if outside:
            body.append(
                f"{len(outside)} of them lie outside the lines this diff shows, so they are "
                "listed here with their fix:"
            )
            body.extend(outside)
    if fixed:
        body.append("Fixed since the last review:")
        body.append(
            "\n".join(
                f"- {rule_id} in `{path}` {marker(fingerprint, rule_id, path, fixed=True)}"
                for (fingerprint, path), rule_id in fixed
            )
        )
    if note:
        body.append(note)
    text = "\n\n".join(body)
    if len(text) > MAX_BODY_CHARS:
        text = text[:MAX_BODY_CHARS] + "\n\n…(truncated; the check run lists every finding)"
    return ReviewPlan(text, comments, len(comments), len(outside), len(fixed))


def _inline_comment(file: WorkflowFile, finding: Finding) -> dict[str, Any] | None:
    hunks = file.hunks or ()
    mark = marker(finding.fingerprint, finding.rule_id, file.path)
    if finding.fix is not None:
        suggestion = suggestion_for(file.text, finding.fix)
        if hunk_covering(hunks, suggestion.first_line, suggestion.last_line):
            block = fenced("suggestion", suggestion.text)
            body = f"{explain(finding)}\n\nSuggested fix: {finding.fix.description}\n\n{block}"
            return _anchored(file.path, suggestion.first_line, suggestion.last_line, body, mark)
    first, last = finding_lines(finding)
    if not hunk_covering(hunks, first, last):
        first = last = finding.span.line
        if not hunk_covering(hunks, first, last):
            return None
    body = explain(finding)
    if finding.fix is not None:
        # The fix reaches lines outside the diff: GitHub would refuse it as a suggestion.
        diff = fenced("diff", fix_diff(file.path, file.text, finding.fix))
        body += f"\n\nSuggested fix: {finding.fix.description}\n\n{diff}"
    return _anchored(file.path, first, last, body, mark)


def _anchored(path: str, first: int, last: int, body: str, mark: str) -> dict[str, Any]:
    comment: dict[str, Any] = {"path": path, "body": f"{body}\n\n{mark}", "line": last}
    comment["side"] = "RIGHT"
    if first < last:
        comment["start_line"] = first
        comment["start_side"] = "RIGHT"
    return comment


def _body_entry(file: WorkflowFile, finding: Finding) -> str:
    entry = f"#### `{file.path}` line {finding.span.line}\n\n{explain(finding)}"
    if finding.fix is not None:
        diff = fenced("diff", fix_diff(file.path, file.text, finding.fix))
        entry += f"\n\nSuggested fix: {finding.fix.description}\n\n{diff}"
    return f"{entry}\n\n{marker(finding.fingerprint, finding.rule_id, file.path)}"

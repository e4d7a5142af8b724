"""Which lines of a pull request's new file a review comment may anchor on.

GitHub accepts a review comment (and a suggestion) only on a line of the diff: an added
or context line of one hunk, and a multi-line comment only when its first and last line
sit in the same hunk. One bad anchor makes GitHub reject the whole review, so every
anchor is checked here against the patch the files listing returned.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_HUNK_HEADER = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@")


@dataclass(frozen=True)
class Hunk:
    """The lines ``first..last`` (1-based, inclusive) of the new file that one hunk shows."""

    first: int
    last: int

    def covers(self, first: int, last: int) -> bool:
        return self.first <= first <= last <= self.last


def parse_hunks(patch: str | None) -> tuple[Hunk, ...]:
    """Hunks of a unified diff patch (as in the PR files listing); none for a missing patch.

    On the RIGHT side a hunk's lines are contiguous: every line of the new file between its
    start and start + count is shown either as added (``+``) or as context (`` ``).
    """
    if not patch:
        return ()
    hunks: list[Hunk] = []
    for line in patch.splitlines():
        match = _HUNK_HEADER.match(line)
        if match is None:
            continue
        start = int(match.group(1))
        count = 1 if match.group(2) is None else int(match.group(2))
        if count > 0:
            hunks.append(Hunk(start, start + count - 1))
    return tuple(hunks)


def hunk_covering(hunks: tuple[Hunk, ...], first: int, last: int) -> Hunk | None:
    """The hunk that shows all of the lines ``first..last``, if one does."""
    for hunk in hunks:
        if hunk.covers(first, last):
            return hunk
    return None

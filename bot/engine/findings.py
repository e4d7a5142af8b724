"""What the engine reports: findings, the fixes they carry, and per-file errors."""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass, field


@dataclass(frozen=True, order=True)
class Span:
    """A region of the source text; lines and columns are 1-based, ``end`` exclusive."""

    line: int
    column: int
    end_line: int
    end_column: int


@dataclass(frozen=True)
class TextEdit:
    """Replace ``text[start:end]`` (character offsets) with ``replacement``."""

    start: int
    end: int
    replacement: str
    span: Span


@dataclass(frozen=True)
class Fix:
    description: str
    edits: tuple[TextEdit, ...]


@dataclass(frozen=True)
class Finding:
    rule_id: str
    rule_name: str
    job: str
    message: str
    span: Span
    fix: Fix | None = None
    # Which Python requests share the unsafe cache, for renderers that want to list them.
    pythons: tuple[str, ...] = field(default=())
    # The step by its label and rank among steps so labelled (set by the engine): the
    # finding's place, stable when steps are added or moved above it.
    step_key: str = ""
    # Why ``fix`` is None, for the user: what wheelwatch could not do, and so what is left.
    no_fix_reason: str = ""

    @property
    def fingerprint(self) -> str:
        """Stable across unrelated edits of the file: ignores line numbers on purpose."""
        digest = hashlib.sha256(f"{self.rule_id}\0{self.job}\0{self.step_key}".encode())
        return digest.hexdigest()[:16]


@dataclass(frozen=True)
class FileError:
    """The file could not be analysed; ``line`` is set when the problem has a place."""

    message: str
    line: int | None = None
    column: int | None = None


@dataclass(frozen=True)
class Analysis:
    findings: tuple[Finding, ...] = ()
    error: FileError | None = None
    # Problems that do not stop the analysis, such as an ignore comment naming no rule.
    warnings: tuple[FileError, ...] = ()


def apply_edits(text: str, edits: tuple[TextEdit, ...] | list[TextEdit]) -> str:
    """Apply non-overlapping edits; raises ``ValueError`` if two of them overlap."""
    ordered = sorted(edits, key=lambda e: (e.start, e.end))
    for before, after in itertools.pairwise(ordered):
        if after.start < before.end:
            raise ValueError("overlapping edits")
    pieces: list[str] = []
    cursor = 0
    for edit in ordered:
        pieces.append(text[cursor : edit.start])
        pieces.append(edit.replacement)
        cursor = edit.end
    pieces.append(text[cursor:])
    return "".join(pieces)

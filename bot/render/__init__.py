"""Renderers: one finding renders the same everywhere (text, JSON, SARIF, annotations)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.engine import Analysis, FileError, Finding


@dataclass(frozen=True)
class FileReport:
    """One checked file: its path as given, its analysis, or why it could not be read."""

    path: str
    analysis: Analysis | None = None
    read_error: str | None = None

    @property
    def findings(self) -> tuple[Finding, ...]:
        return self.analysis.findings if self.analysis else ()

    @property
    def warnings(self) -> tuple[FileError, ...]:
        return self.analysis.warnings if self.analysis else ()

    @property
    def error(self) -> tuple[str, int | None, int | None] | None:
        if self.read_error is not None:
            return self.read_error, None, None
        if self.analysis is not None and self.analysis.error is not None:
            error = self.analysis.error
            return error.message, error.line, error.column
        return None

"""GitHub workflow-command annotations (``::warning file=...::message``)."""

from __future__ import annotations

from collections.abc import Sequence

from bot.render import FileReport


def _data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")


def render_github(reports: Sequence[FileReport]) -> str:
    lines: list[str] = []
    for report in reports:
        error = report.error
        if error is not None:
            message, line, _ = error
            where = f"file={_property(report.path)}" + (f",line={line}" if line else "")
            lines.append(f"::error {where},title=wheelwatch::{_data(message)}")
        for warning in report.warnings:
            where = f"file={_property(report.path)},line={warning.line},col={warning.column}"
            lines.append(f"::warning {where},title=wheelwatch::{_data(warning.message)}")
        for finding in report.findings:
            span = finding.span
            title = _property(f"{finding.rule_id} {finding.rule_name}")
            lines.append(
                f"::warning file={_property(report.path)},line={span.line},col={span.column},"
                f"endLine={span.end_line},endColumn={span.end_column},title={title}"
                f"::{_data(finding.message)}"
            )
    return "\n".join(lines) + ("\n" if lines else "")

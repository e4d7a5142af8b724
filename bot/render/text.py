from __future__ import annotations

from collections.abc import Sequence

from bot.render import FileReport

_BOLD, _RED, _YELLOW, _CYAN, _GREEN, _RESET = "1", "1;31", "33", "36", "32", "0"


def render_text(reports: Sequence[FileReport], *, colour: bool = False) -> str:
    """``path:line:col: WW001 message``, ruff style, then a summary line."""

    def paint(text: str, style: str) -> str:
        return f"\x1b[{style}m{text}\x1b[{_RESET}m" if colour else text

    lines: list[str] = []
    findings = fixable = errors = 0
    for report in reports:
        error = report.error
        if error is not None:
            message, line, column = error
            path = paint(report.path, _BOLD)
            where = f"{path}:{line}:{column or 1}" if line else path
            lines.append(f"{where}: {paint('error', _RED)}: {message}")
            errors += 1
        for warning in report.warnings:
            lines.append(
                f"{paint(report.path, _BOLD)}:{warning.line}:{warning.column or 1}: "
                f"{paint('warning', _YELLOW)}: {warning.message}"
            )
        for finding in report.findings:
            span = finding.span
            marker = " " + paint("[*]", _CYAN) if finding.fix else ""
            lines.append(
                f"{paint(report.path, _BOLD)}:{span.line}:{span.column}: "
                f"{paint(finding.rule_id, _RED)}{marker} "
                f"[{finding.rule_name}] (job {finding.job}) {finding.message}"
            )
            if finding.fix:
                lines.append(f"    {paint('fix', _GREEN)}: {finding.fix.description}")
            else:
                lines.append(f"    no fix: {finding.no_fix_reason}")
            findings += 1
            fixable += finding.fix is not None
    if findings:
        summary = f"Found {findings} finding{'s' if findings != 1 else ''}"
        if fixable:
            summary += f" ({fixable} fixable with --fix; see them with --diff)"
        lines.append(summary + ".")
    elif not errors:
        lines.append("All checks passed.")
    if errors:
        lines.append(f"{errors} path{'s' if errors != 1 else ''} could not be checked.")
    return "\n".join(lines) + "\n"

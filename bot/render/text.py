from __future__ import annotations

from collections.abc import Sequence

from bot.render import FileReport


def render_text(reports: Sequence[FileReport]) -> str:
    """``path:line:col: WW001 message``, ruff style, then a summary line."""
    lines: list[str] = []
    findings = fixable = errors = 0
    for report in reports:
        error = report.error
        if error is not None:
            message, line, column = error
            where = f"{report.path}:{line}:{column or 1}" if line else report.path
            lines.append(f"{where}: error: {message}")
            errors += 1
        for warning in report.warnings:
            lines.append(
                f"{report.path}:{warning.line}:{warning.column or 1}: warning: {warning.message}"
            )
        for finding in report.findings:
            span = finding.span
            marker = " [*]" if finding.fix else ""
            lines.append(
                f"{report.path}:{span.line}:{span.column}: {finding.rule_id}{marker} "
                f"[{finding.rule_name}] (job {finding.job}) {finding.message}"
            )
            if finding.fix:
                lines.append(f"    fix: {finding.fix.description}")
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

"""Rendering a ``wheelwatch`` check run: title, summary and annotations."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from bot.app.review import finding_lines, fix_diff
from bot.app.workflows import RepoConfig, WorkflowFile
from bot.settings import RepoSettings

CHECK_NAME = "wheelwatch"
# "The Checks API limits the number of annotations to a maximum of 50 per API request."
ANNOTATIONS_PER_REQUEST = 50
# Output text and summary are capped at 65 535 characters each.
MAX_OUTPUT_CHARS = 60_000


def annotations_for(files: Iterable[WorkflowFile]) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = []
    for file in files:
        error = file.analysis.error
        if error is not None:
            line = error.line or 1
            result.append(
                {
                    "path": file.path,
                    "start_line": line,
                    "end_line": line,
                    "annotation_level": "failure",
                    "title": "wheelwatch could not analyse this file",
                    "message": error.message,
                }
            )
        for finding in file.analysis.findings:
            first, last = finding_lines(finding)
            annotation: dict[str, Any] = {
                "path": file.path,
                "start_line": first,
                "end_line": last,
                "annotation_level": "warning",
                "title": f"{finding.rule_id} {finding.rule_name}",
                "message": finding.message,
            }
            if finding.fix is not None:
                annotation["message"] += f"\n\nFix: {finding.fix.description}"
                annotation["raw_details"] = fix_diff(file.path, file.text, finding.fix)[:60_000]
            result.append(annotation)
    return result


def conclusion(files: Iterable[WorkflowFile], config: RepoSettings) -> str:
    """A file that could not be analysed may hide a finding: where the repository asked for
    failure, it fails too (fail closed); otherwise it does not pass silently either."""
    if any(file.analysis.findings or file.analysis.error for file in files):
        return config.check_conclusion
    return "success"


def output(
    files: list[WorkflowFile],
    *,
    config_error: str | None = None,
    notice: str | None = None,
    releases: str | None = None,
) -> dict[str, str]:
    findings = sum(len(file.analysis.findings) for file in files)
    errors = [file for file in files if file.analysis.error is not None]
    if findings:
        title = f"{findings} Python cache problem{'s' if findings != 1 else ''} found"
    elif errors:
        title = (
            f"{len(errors)} workflow file{'s' if len(errors) != 1 else ''} could not be analysed"
        )
    else:
        title = "No Python cache problems found"
    lines = [f"wheelwatch reviewed {len(files)} workflow file{'s' if len(files) != 1 else ''}."]
    if files:
        lines += ["", "| File | Findings | Result |", "| --- | --- | --- |"]
        for file in files:
            error = file.analysis.error
            state = f"not analysed: {error.message}" if error else "analysed"
            state = state.replace("|", "\\|").replace("\n", " ")
            lines.append(f"| `{file.path}` | {len(file.analysis.findings)} | {state} |")
    if config_error:
        lines += ["", f"**The repository configuration was ignored:** {config_error}"]
    if notice:
        lines += ["", notice]
    if releases:
        lines += ["", f"Which Pythons are pre-releases comes from {releases}."]
    summary = "\n".join(lines)[:MAX_OUTPUT_CHARS]
    return {"title": title, "summary": summary}


# Starts the fix pull request's note in a summary, so that a later note replaces it.
FIX_NOTE_MARKER = "<!-- wheelwatch:fix -->"


def with_fix_note(summary: str, message: str) -> str:
    """The summary with what became of the fix pull request, in place of an earlier note."""
    kept = summary.split(FIX_NOTE_MARKER)[0].rstrip()
    note = f"{FIX_NOTE_MARKER}\n**Fix pull request:** {message}"
    return f"{kept}\n\n{note}"[-MAX_OUTPUT_CHARS:] if kept else note


def render(
    files: list[WorkflowFile], repo_config: RepoConfig, releases: str | None = None
) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """The check run's output and annotations: a worker process's job (a diff per finding)."""
    out = output(
        files, config_error=repo_config.error, notice=repo_config.notice(), releases=releases
    )
    return out, annotations_for(files)

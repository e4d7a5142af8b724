from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from bot.engine import RULES_BY_ID, Finding
from bot.render import FileReport


def finding_record(path: str, finding: Finding) -> dict[str, Any]:
    span = finding.span
    fix = finding.fix
    return {
        "path": path,
        "line": span.line,
        "column": span.column,
        "end_line": span.end_line,
        "end_column": span.end_column,
        "rule": finding.rule_id,
        "name": finding.rule_name,
        "job": finding.job,
        "message": finding.message,
        "pythons": list(finding.pythons),
        "fingerprint": finding.fingerprint,
        "url": RULES_BY_ID[finding.rule_id].docs_url,
        "no_fix_reason": finding.no_fix_reason or None,
        "fix": None
        if fix is None
        else {
            "description": fix.description,
            "edits": [
                {
                    "line": edit.span.line,
                    "column": edit.span.column,
                    "end_line": edit.span.end_line,
                    "end_column": edit.span.end_column,
                    "start_offset": edit.start,
                    "end_offset": edit.end,
                    "replacement": edit.replacement,
                }
                for edit in fix.edits
            ],
        },
    }


def render_json(reports: Sequence[FileReport]) -> str:
    findings = [finding_record(r.path, f) for r in reports for f in r.findings]
    errors = []
    for report in reports:
        error = report.error
        if error is not None:
            message, line, column = error
            errors.append({"path": report.path, "message": message, "line": line, "column": column})
    warnings = [
        {"path": r.path, "message": w.message, "line": w.line, "column": w.column}
        for r in reports
        for w in r.warnings
    ]
    document = {"findings": findings, "errors": errors, "warnings": warnings}
    return json.dumps(document, indent=2) + "\n"

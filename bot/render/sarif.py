"""SARIF 2.1.0, as GitHub code scanning reads it."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from bot import __version__
from bot.engine import RULES, Finding
from bot.render import FileReport

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SRCROOT = "%SRCROOT%"


def _region(line: int, column: int, end_line: int, end_column: int) -> dict[str, int]:
    return {"startLine": line, "startColumn": column, "endLine": end_line, "endColumn": end_column}


def _artifact(path: str, root: Path | None) -> dict[str, str]:
    """Code scanning places an alert by its URI relative to the checkout: ``%SRCROOT%``."""
    if root is None:
        return {"uri": quote(Path(path).as_posix())}
    absolute = Path(os.path.abspath(path))
    if not absolute.is_relative_to(root):
        return {"uri": absolute.as_uri()}
    return {"uri": quote(absolute.relative_to(root).as_posix()), "uriBaseId": SRCROOT}


def _result(path: str, finding: Finding, rule_index: int, root: Path | None) -> dict[str, Any]:
    span = finding.span
    location = {
        "physicalLocation": {
            "artifactLocation": _artifact(path, root),
            "region": _region(span.line, span.column, span.end_line, span.end_column),
        }
    }
    result: dict[str, Any] = {
        "ruleId": finding.rule_id,
        "ruleIndex": rule_index,
        "level": "warning",
        "message": {"text": finding.message},
        "locations": [location],
        "partialFingerprints": {"wheelwatch/v1": finding.fingerprint},
        "properties": {"job": finding.job, "pythons": list(finding.pythons)},
    }
    if finding.no_fix_reason:
        result["properties"]["noFixReason"] = finding.no_fix_reason
    if finding.fix is not None:
        result["fixes"] = [
            {
                "description": {"text": finding.fix.description},
                "artifactChanges": [
                    {
                        "artifactLocation": _artifact(path, root),
                        "replacements": [
                            {
                                "deletedRegion": _region(
                                    e.span.line, e.span.column, e.span.end_line, e.span.end_column
                                ),
                                "insertedContent": {"text": e.replacement},
                            }
                            for e in finding.fix.edits
                        ],
                    }
                ],
            }
        ]
    return result


def render_sarif(reports: Sequence[FileReport], *, root: Path | None = None) -> str:
    """``root`` is the repository's root directory: paths are made relative to it."""
    index = {rule.id: position for position, rule in enumerate(RULES)}
    rules = [
        {
            "id": rule.id,
            "name": rule.name,
            "shortDescription": {"text": rule.summary},
            "fullDescription": {"text": rule.explanation},
            "helpUri": rule.docs_url,
            "help": {"text": rule.explanation},
            "defaultConfiguration": {"level": "warning"},
        }
        for rule in RULES
    ]
    results = [_result(r.path, f, index[f.rule_id], root) for r in reports for f in r.findings]
    notifications = []
    for report in reports:
        error = report.error
        if error is not None:
            message, line, column = error
            location: dict[str, Any] = {"artifactLocation": _artifact(report.path, root)}
            if line:
                location["region"] = {"startLine": line, "startColumn": column or 1}
            notifications.append(
                {
                    "level": "error",
                    "message": {"text": message},
                    "locations": [{"physicalLocation": location}],
                }
            )
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "wheelwatch",
                "version": __version__,
                "informationUri": "https://github.com/wheelwatch/wheelwatch",
                "rules": rules,
            }
        },
        "results": results,
        **({"originalUriBaseIds": {SRCROOT: {"uri": root.as_uri() + "/"}}} if root else {}),
        "invocations": [
            {
                "executionSuccessful": not notifications,
                "toolExecutionNotifications": notifications,
            }
        ],
    }
    document = {"$schema": SCHEMA, "version": "2.1.0", "runs": [run]}
    return json.dumps(document, indent=2) + "\n"

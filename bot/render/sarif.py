"""SARIF 2.1.0, as GitHub code scanning reads it."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from bot import __version__
from bot.engine import RULES, Finding
from bot.render import FileReport

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def _region(line: int, column: int, end_line: int, end_column: int) -> dict[str, int]:
    return {"startLine": line, "startColumn": column, "endLine": end_line, "endColumn": end_column}


def _result(path: str, finding: Finding, rule_index: int) -> dict[str, Any]:
    span = finding.span
    location = {
        "physicalLocation": {
            "artifactLocation": {"uri": path},
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
    if finding.fix is not None:
        result["fixes"] = [
            {
                "description": {"text": finding.fix.description},
                "artifactChanges": [
                    {
                        "artifactLocation": {"uri": path},
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


def render_sarif(reports: Sequence[FileReport]) -> str:
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
    results = [_result(r.path, f, index[f.rule_id]) for r in reports for f in r.findings]
    notifications = []
    for report in reports:
        error = report.error
        if error is not None:
            message, line, column = error
            location: dict[str, Any] = {"artifactLocation": {"uri": report.path}}
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
        "invocations": [
            {
                "executionSuccessful": not notifications,
                "toolExecutionNotifications": notifications,
            }
        ],
    }
    document = {"$schema": SCHEMA, "version": "2.1.0", "runs": [run]}
    return json.dumps(document, indent=2) + "\n"

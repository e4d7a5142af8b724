"""The engine's public entry points: ``analyse`` (findings with proven fixes, after
suppression and disabled rules) and ``fix_all`` (every fix applied, round by round)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date

from bot.engine.config import Config
from bot.engine.detection import detect
from bot.engine.document import DocumentError
from bot.engine.expressions import Value
from bot.engine.findings import Analysis, FileError, Finding, TextEdit, apply_edits
from bot.engine.interpreters import Resolution
from bot.engine.issues import Issue
from bot.engine.names import rule_hint, rule_named
from bot.engine.proofs import verified_fixes
from bot.engine.simulation import Context
from bot.engine.versions import ReleaseTable
from bot.engine.workflow import NotAWorkflow


def analyse(
    text: str,
    *,
    as_of: date,
    releases: ReleaseTable,
    config: Config | None = None,
    inputs: Sequence[Mapping[str, Value]] = (),
) -> Analysis:
    """Find the unsafe caches in one workflow or composite action, with verified fixes.

    The verdict depends on the day (``as_of``: was this Python still a pre-release?) and on
    which minor versions are final (``releases``: the shipped table,
    ``ReleaseTable.shipped()``, or one refreshed from actions/python-versions' manifest with
    ``ReleaseTable.with_manifest``); the caller passes both, the engine reads no clock and no
    file. The configuration's ``released`` overrides apply on top. ``inputs`` are what
    callers pass to this reusable workflow or composite action (``bot.engine.calls``).
    """
    config = config or Config()
    table = releases.overridden(config.released)
    resolution = Resolution(as_of, table, tuple(dict(i) for i in inputs))
    try:
        issues, context = detect(text, resolution)
    except DocumentError as exc:
        return Analysis(error=FileError(exc.message, exc.line, exc.column))
    except NotAWorkflow as exc:
        return Analysis(error=FileError(str(exc), exc.line, exc.column))
    reported = [
        issue
        for issue in issues
        if issue.rule_id not in config.disabled_rules and not _suppressed(issue, context)
    ]
    fixes, unproven = verified_fixes(reported, issues, context)
    findings = [
        Finding(
            rule_id=issue.rule_id,
            rule_name=issue.rule_name,
            job=issue.job.id,
            message=_message(issue),
            span=context.source.node_span(issue.node),
            fix=fixes.get(id(issue)),
            pythons=issue.pythons,
            step_key=issue.step_key,
            no_fix_reason=""
            if id(issue) in fixes
            else unproven.get(id(issue)) or issue.no_fix or _NO_FIX,
        )
        for issue in reported
    ]
    findings.sort(key=lambda f: (f.span, f.rule_id))
    # A mistyped rule in an ignore comment suppresses nothing: say so rather than stay silent.
    warnings = tuple(
        FileError(f"unknown rule {name!r} in an ignore comment{rule_hint(name)}", line, column)
        for name, line, column in context.source.ignored_names()
        if rule_named(name) is None
    )
    return Analysis(tuple(findings), warnings=warnings)


_NO_FIX = "wheelwatch has no automatic fix for this case; the message says what to change"


def _suppressed(issue: Issue, context: Context) -> bool:
    span = context.source.node_span(issue.node)
    step = context.source.node_span(issue.step.node)
    return context.source.suppressed(
        issue.rule_id,
        issue.rule_name,
        min(span.line, step.line),
        max(span.end_line, step.end_line),
    )


def _message(issue: Issue) -> str:
    shared = ", ".join(issue.pythons[:6]) + (" and others" if len(issue.pythons) > 6 else "")
    return f"{issue.reason} Pythons that share it: {shared}."


def fix_all(
    text: str,
    *,
    as_of: date,
    releases: ReleaseTable,
    config: Config | None = None,
    inputs: Sequence[Mapping[str, Value]] = (),
) -> tuple[str, int]:
    """Apply every offered fix, re-analysing between rounds; returns the text and the count.

    Fixes of one round may touch the same place (two caches keyed on one setup step both
    add its ``id:``): identical edits are merged, overlapping ones wait for the next round.
    """
    applied = 0
    for _ in range(_MAX_ROUNDS):
        analysis = analyse(text, as_of=as_of, releases=releases, config=config, inputs=inputs)
        chosen: list[TextEdit] = []
        for finding in analysis.findings:
            if finding.fix is None:
                continue
            new = [e for e in finding.fix.edits if e not in chosen]
            if any(_overlaps(e, c) for e in new for c in chosen):
                continue
            chosen.extend(new)
            applied += 1
        if not chosen:
            break
        text = apply_edits(text, chosen)
    return text, applied


_MAX_ROUNDS = 5


def _overlaps(a: TextEdit, b: TextEdit) -> bool:
    if a.start == a.end == b.start == b.end:
        return True  # two insertions at one point: their order would be arbitrary
    return a.start < b.end and b.start < a.end

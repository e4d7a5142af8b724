"""Helpers shared by the engine tests: analyse an inline workflow, check a fix."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from datetime import date

from bot import engine
from bot.engine import Analysis, Config, Finding, ReleaseTable, apply_edits
from bot.engine.expressions import Value

# The date the rules are written for: 3.15 final (2026-10-01), 3.16 in alpha.
TODAY = date(2026, 11, 25)
RELEASES = ReleaseTable.shipped()


def analyse(
    text: str,
    *,
    as_of: date = TODAY,
    releases: ReleaseTable = RELEASES,
    config: Config | None = None,
    inputs: Sequence[Mapping[str, Value]] = (),
) -> Analysis:
    """The engine's analysis, as of the day the tests are written for, with the shipped
    release table (the engine takes both from its caller)."""
    return engine.analyse(text, as_of=as_of, releases=releases, config=config, inputs=inputs)


def fix_all(
    text: str,
    *,
    as_of: date = TODAY,
    releases: ReleaseTable = RELEASES,
    config: Config | None = None,
    inputs: Sequence[Mapping[str, Value]] = (),
) -> tuple[str, int]:
    return engine.fix_all(text, as_of=as_of, releases=releases, config=config, inputs=inputs)


def check(
    workflow: str, *, as_of: date = TODAY, config: Config | None = None
) -> tuple[Finding, ...]:
    """Findings of a dedented inline workflow; the file must parse."""
    analysis = analyse(textwrap.dedent(workflow), config=config, as_of=as_of)
    assert analysis.error is None, analysis.error
    return analysis.findings


def rule_ids(workflow: str, *, as_of: date = TODAY, config: Config | None = None) -> list[str]:
    return [finding.rule_id for finding in check(workflow, as_of=as_of, config=config)]


def identity(finding: Finding) -> tuple[str, str, str]:
    return (finding.rule_id, finding.job, finding.step_key)


def fix_problems(
    text: str, finding: Finding, *, as_of: date = TODAY, before: Analysis | None = None
) -> list[str]:
    """What is wrong with ``finding``'s fix: empty when applying it leaves a file that
    parses, without that finding, with no new finding, and that offers no further fix
    for the same place."""
    assert finding.fix is not None
    before = before or analyse(text, as_of=as_of)
    fixed = apply_edits(text, finding.fix.edits)
    after = analyse(fixed, as_of=as_of)
    problems: list[str] = []
    if after.error is not None:
        return [f"the fixed file does not parse: {after.error}"]
    remaining = {identity(f) for f in after.findings}
    if identity(finding) in remaining:
        problems.append("the finding is still there")
    new = remaining - {identity(f) for f in before.findings}
    if new:
        problems.append(f"new findings: {sorted(new)}")
    return problems

"""Detection: every issue of a text, each rule checking the steps it wants in every
simulated matrix row, the same issue from several rows merged into one."""

from __future__ import annotations

from bot.engine.document import DocumentError, parse_document
from bot.engine.expressions import UNKNOWN, Value
from bot.engine.interpreters import Resolution
from bot.engine.issues import Issue
from bot.engine.rules import RULES
from bot.engine.simulation import Context, distinct_rows, relevant_steps, simulate
from bot.engine.source import Source
from bot.engine.workflow import Step, load_workflow

# Matrix rows times simulated steps, over all jobs: bounds detection to about 0.7 s here.
MAX_WORK = 100_000


def wanted(step: Step) -> bool:
    """Does any rule check this step? Jobs without such a step are not simulated."""
    return any(rule.wants(step) for rule in RULES)


def detect(
    text: str, resolution: Resolution, jobs: set[str] | None = None
) -> tuple[list[Issue], Context]:
    """Every issue in the text (or in the named jobs), unfiltered and without fixes.

    Raises ``DocumentError`` or ``NotAWorkflow`` on unusable input."""
    source = Source(text)
    workflow = load_workflow(parse_document(text), source.lines)
    context = Context(source, resolution)
    selected = [
        job
        for job in workflow.jobs
        if (jobs is None or job.id in jobs) and any(map(wanted, job.steps))
    ]
    plans = [
        (job, distinct_rows(job, context), relevant_steps(job, text, wanted)) for job in selected
    ]
    # A called file is analysed once for each set of inputs its callers pass, on top of the
    # defaults it declares; with no callers known, its inputs are unknown.
    options: list[Value] = [
        {**workflow.input_defaults, **given} for given in resolution.inputs
    ] or [UNKNOWN]
    context.work = len(options) * sum(len(rows) * max(len(steps), 1) for _, rows, steps in plans)
    if context.work > MAX_WORK:
        raise DocumentError(
            f"workflow too large to analyse: {context.work:,} matrix rows x steps "
            f"(the limit is {MAX_WORK:,})"
        )
    found: dict[tuple[str, str, int, int], Issue] = {}
    for job, rows, steps in plans:
        for row in simulate(job, rows, steps, options, context):
            for step in row.steps:
                for rule in RULES:
                    if not rule.wants(step):
                        continue
                    for issue in rule.check(job, step, row, context):
                        key = (issue.rule_id, job.id, issue.step.index, issue.node.start)
                        known = found.get(key)
                        found[key] = issue if known is None else known.merged(issue)
    return list(found.values()), context

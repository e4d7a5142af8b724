"""Proving fixes: a fix is offered only when re-analysis of the fixed text shows it works."""

from __future__ import annotations

from bot.engine.detection import detect
from bot.engine.document import DocumentError
from bot.engine.findings import Fix, apply_edits
from bot.engine.issues import Issue
from bot.engine.rules import RULES_BY_ID
from bot.engine.simulation import Context
from bot.engine.workflow import NotAWorkflow

Identity = tuple[str, str, str]


# Each round of proof parses the file and re-runs the pending jobs' detection. The rounds
# are bounded by count and by cost (in the units of ``Context.work``; parsing costs about one
# unit per 25 characters), so proofs add at most about a second to any file; a fix left
# unproven is not offered.
MAX_PROOF_ROUNDS = 8
PROOF_BUDGET = 150_000


def verified_fixes(
    reported: list[Issue], issues: list[Issue], context: Context
) -> tuple[dict[int, Fix], dict[int, str]]:
    """Fixes for the reported issues that re-analysis proves, keyed by ``id(issue)``, and,
    for the fixes proposed but not proven, why (for the user: what is left to do).

    A fix is proven when, applied, the file parses, its issue is gone and its job has no
    new issue. Edits stay inside the issue's job and a job's issues depend on that job
    alone, so one fix per job can be proven in the same pass: the file is parsed once per
    round, not once per fix.
    """
    pending: dict[str, list[tuple[Issue, Fix]]] = {}
    unproven: dict[int, str] = {}
    by_job: dict[str, list[Issue]] = {}
    for issue in reported:
        by_job.setdefault(issue.job.id, []).append(issue)
    for issue in reported:
        if not issue.fixable:
            continue  # the issue says why
        fix = RULES_BY_ID[issue.rule_id].propose(issue, context, by_job[issue.job.id])
        if fix is not None and fix.edits:
            pending.setdefault(issue.job.id, []).append((issue, fix))
        else:
            unproven[id(issue)] = "no edit was found that changes only what must change here"
    before: dict[str, set[Identity]] = {}
    for issue in issues:
        before.setdefault(issue.job.id, set()).add(issue.identity)
    proven: dict[int, Fix] = {}
    round_cost = context.work + len(context.source.text) // 25 + 1
    rounds = min(MAX_PROOF_ROUNDS, max(1, PROOF_BUDGET // round_cost))
    for _ in range(rounds):
        if not pending:
            break
        batch = [queue.pop(0) for queue in pending.values()]
        pending = {job: queue for job, queue in pending.items() if queue}
        passed = _prove(batch, context, before, unproven)
        if passed is None:  # the batch as a whole did not parse: try each fix alone
            for item in batch:
                alone = _prove([item], context, before, unproven)
                if alone is None:
                    unproven[id(item[0])] = (
                        "applied, the proposed fix leaves a file that does not parse"
                    )
                proven.update(alone or {})
        else:
            proven.update(passed)
    for queue in pending.values():
        for issue, _ in queue:
            unproven[id(issue)] = "the file's budget for proving fixes ran out before this one"
    return proven, unproven


def _prove(
    batch: list[tuple[Issue, Fix]],
    context: Context,
    before: dict[str, set[Identity]],
    unproven: dict[int, str],
) -> dict[int, Fix] | None:
    """The fixes of ``batch`` that work; why the others do not goes into ``unproven``."""
    edits = [edit for _, fix in batch for edit in fix.edits]
    try:
        fixed = apply_edits(context.source.text, edits)
        after, _ = detect(fixed, context.resolution, jobs={issue.job.id for issue, _ in batch})
    except (DocumentError, NotAWorkflow, ValueError):
        return None
    remaining: dict[str, set[Identity]] = {}
    for issue in after:
        remaining.setdefault(issue.job.id, set()).add(issue.identity)
    reasons = {issue.identity: issue.reason for issue in after}
    proven: dict[int, Fix] = {}
    for issue, fix in batch:
        left = remaining.get(issue.job.id, set())
        new = sorted({rule for rule, _, _ in left - (before[issue.job.id] - {issue.identity})})
        if issue.identity in left:
            unproven[id(issue)] = (
                f"applied, the proposed fix leaves {issue.rule_id} at this step: "
                f"{reasons[issue.identity]}"
            )
        elif new:
            named = ", ".join(f"{rule} ({RULES_BY_ID[rule].name})" for rule in new)
            unproven[id(issue)] = f"applied, the proposed fix raises {named} in this job"
        else:
            proven[id(issue)] = fix
    return proven

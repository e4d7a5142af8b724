"""Calls to reusable workflows and composite actions of the same repository, with the
inputs each caller passes, so that the called file can be analysed with them."""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

from bot.engine.document import DocumentError, YMap, YScalar, parse_document
from bot.engine.expressions import UNKNOWN, Evaluator, Value, evaluate_text
from bot.engine.source import Source
from bot.engine.workflow import Job, NotAWorkflow, load_workflow, to_value

Inputs = dict[str, Value]
# ``./path`` (the checked-out workspace, the repository at the caller's commit when it is
# checked out there) and GitHub's self-repository syntax ``$/path`` (the repository of the
# calling file at its commit; no ``@ref``): both name a file of the repository analysed.
LOCAL_PREFIXES = ("./", "$/")
_LOCAL_USES = re.compile(r"""uses:\s*["']?[.$]/""")


@dataclass(frozen=True)
class LocalCall:
    """``uses: ./path`` or ``uses: $/path`` in a job (a reusable workflow) or a step (a
    composite action)."""

    path: str  # relative to the repository root, normalised: ``.github/workflows/x.yml``, ``.``
    inputs: tuple[Inputs, ...]  # one per distinct set of values the callers pass


def may_call_local(text: str) -> bool:
    """Whether the text may call a local workflow or action: a quick look, no parse. Most
    files call nothing local."""
    return _LOCAL_USES.search(text) is not None


def local_path(uses: str) -> str | None:
    """The repository path a ``uses:`` value names, if it calls a file of this repository."""
    uses = uses.strip()
    if not uses.startswith(LOCAL_PREFIXES):
        return None
    return posixpath.normpath(uses[2:])  # "" (the root's action) becomes "."


def local_calls(text: str) -> list[LocalCall]:
    """The local calls a workflow or composite action makes; none if it does not parse."""
    if not may_call_local(text):
        return []  # skip the parse
    try:
        workflow = load_workflow(parse_document(text), Source(text).lines)
    except (DocumentError, NotAWorkflow):
        return []
    calls: dict[str, list[Inputs]] = {}
    for job in workflow.callers:
        _add(calls, job, job.node)
    for job in workflow.jobs:
        for step in job.steps:
            _add(calls, job, step.node)
    return [LocalCall(path, tuple(inputs)) for path, inputs in calls.items()]


def _add(calls: dict[str, list[Inputs]], job: Job, node: YMap) -> None:
    uses = node.scalar("uses")
    path = local_path(uses.text) if uses is not None else None
    if path is None:
        return
    with_ = node.mapping("with")
    found = calls.setdefault(path, [])
    for row in job.rows if job.rows is not None else [None]:
        evaluator = Evaluator({"matrix": row if row is not None else UNKNOWN})
        inputs: Inputs = {}
        for name, value in with_.pairs if with_ is not None else []:
            if isinstance(value, YScalar) and "${{" in value.value:
                inputs[name.value] = evaluate_text(value.value, evaluator)
            else:
                inputs[name.value] = to_value(value)
        if inputs not in found:
            found.append(inputs)

"""Workflows and composite actions as jobs and steps, with their matrices expanded."""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass, field

from bot.engine.actions import ActionRef, parse_uses
from bot.engine.document import YMap, YScalar, YSeq, YValue
from bot.engine.expressions import UNKNOWN, Evaluator, Value, evaluate_text

# GitHub runs at most 256 jobs per matrix; beyond that a matrix is not worth expanding.
MAX_ROWS = 256

Row = dict[str, Value]


class NotAWorkflow(ValueError):
    def __init__(self, message: str, line: int = 1, column: int = 1) -> None:
        super().__init__(message)
        self.line = line
        self.column = column


@dataclass
class Step:
    index: int
    node: YMap
    uses: ActionRef | None

    @functools.cached_property
    def id(self) -> str | None:
        return self.node.text("id")

    @functools.cached_property
    def inputs(self) -> YMap | None:
        return self.node.mapping("with")

    def input(self, name: str) -> YScalar | None:
        inputs = self.inputs
        return inputs.scalar(name) if inputs else None

    @functools.cached_property
    def run(self) -> str | None:
        return self.node.text("run")

    @functools.cached_property
    def label(self) -> str:
        name = self.node.text("name")
        uses = self.node.text("uses")
        return (name or uses or (self.run or "").strip().split("\n")[0][:60]) or f"#{self.index}"


@dataclass
class Job:
    id: str
    node: YMap
    steps: list[Step]
    # ``None`` when the matrix cannot be known statically (``fromJSON(needs...)``).
    rows: list[Row] | None
    env: list[YMap] = field(default_factory=list)

    @functools.cached_property
    def step_ids(self) -> frozenset[str]:
        return frozenset(step.id for step in self.steps if step.id)


@dataclass
class Workflow:
    jobs: list[Job]
    env: YMap | None
    # Jobs that call a reusable workflow (``jobs.<id>.uses``): no steps of their own.
    callers: list[Job] = field(default_factory=list)
    # Declared inputs (``on.workflow_call.inputs`` or an action's ``inputs``) and defaults.
    input_defaults: dict[str, Value] = field(default_factory=dict)


def load_workflow(root: YValue | None, lines: list[str]) -> Workflow:
    if root is None:
        return Workflow([], None)
    if not isinstance(root, YMap):
        raise NotAWorkflow("not a workflow: the document is not a mapping", root.line, root.column)
    runs = root.mapping("runs")
    if runs is not None and root.get("jobs") is None:
        steps = runs.get("steps")
        if not isinstance(steps, YSeq):
            return Workflow([], None)
        job = Job("(composite)", runs, _steps(steps, lines), [{}])
        return Workflow([job], None, input_defaults=_defaults(root.get("inputs")))
    jobs = root.get("jobs")
    if jobs is None:
        return Workflow([], None)
    if not isinstance(jobs, YMap):
        where = root.key_node("jobs") or jobs
        raise NotAWorkflow("'jobs' must be a mapping of job ids to jobs", where.line, where.column)
    workflow_env = root.mapping("env")
    result: list[Job] = []
    callers: list[Job] = []
    for name, body in jobs.pairs:
        if not isinstance(body, YMap):
            continue
        steps = body.get("steps")
        strategy = body.mapping("strategy")
        matrix = strategy.get("matrix") if strategy else None
        job = Job(
            id=name.value,
            node=body,
            steps=_steps(steps, lines) if isinstance(steps, YSeq) else [],
            rows=expand_matrix(matrix),
            env=[env for env in (workflow_env, body.mapping("env")) if env is not None],
        )
        # A reusable-workflow caller has no steps: the called file is analysed on its own,
        # with the inputs its callers pass (see ``bot.engine.calls``).
        (callers if body.get("uses") is not None else result).append(job)
    on = root.get("on")
    call = on.get("workflow_call") if isinstance(on, YMap) else None
    defaults = _defaults(call.get("inputs")) if isinstance(call, YMap) else {}
    return Workflow(result, workflow_env, callers, defaults)


def _defaults(inputs: YValue | None) -> dict[str, Value]:
    """Declared inputs: their default, or UNKNOWN when a caller must supply them."""
    if not isinstance(inputs, YMap):
        return {}
    declared: dict[str, Value] = {}
    for name, spec in inputs.pairs:
        default = spec.get("default") if isinstance(spec, YMap) else None
        declared[name.value] = UNKNOWN if default is None else to_value(default)
    return declared


def _steps(sequence: YSeq, lines: list[str]) -> list[Step]:
    steps = []
    for index, item in enumerate(sequence.items):
        if not isinstance(item, YMap):
            continue
        uses_node = item.scalar("uses")
        uses = None
        if uses_node is not None:
            line = lines[uses_node.line - 1] if uses_node.line - 1 < len(lines) else ""
            uses = parse_uses(uses_node.text, line[uses_node.column - 1 :])
        steps.append(Step(index, item, uses))
    return steps


# --- matrices ----------------------------------------------------------------------------


def to_value(node: YValue) -> Value:
    if isinstance(node, YScalar):
        if "${{" in node.value:
            return evaluate_text(node.value, Evaluator({}))
        if node.tag.endswith((":int", ":float")) and node.style is None:
            try:
                return float(node.text)
            except ValueError:
                return node.text
        if node.tag.endswith(":bool") and node.style is None:
            return node.text.lower() == "true"
        if node.tag.endswith(":null"):
            return None
        return node.value
    if isinstance(node, YSeq):
        return [to_value(item) for item in node.items]
    return {name.value: to_value(value) for name, value in node.pairs}


def expand_matrix(matrix: YValue | None) -> list[Row] | None:
    """Rows of a ``strategy.matrix``, following GitHub's include/exclude rules."""
    if matrix is None:
        return [{}]
    value = to_value(matrix)
    if not isinstance(value, dict):
        return None
    axes: list[tuple[str, list[Value]]] = []
    include: list[Value] = []
    exclude: list[Value] = []
    for key, item in value.items():
        if key == "include":
            include = item if isinstance(item, list) else [] if item is None else [UNKNOWN]
        elif key == "exclude":
            exclude = item if isinstance(item, list) else [] if item is None else [UNKNOWN]
        elif isinstance(item, list):
            axes.append((key, item))
        else:
            return None  # an expression we could not resolve
    if UNKNOWN in include or UNKNOWN in exclude:
        return None
    size = 1
    for _, values in axes:
        size *= max(len(values), 1)
    if size > MAX_ROWS * 4:
        return None
    names = [name for name, _ in axes]
    rows: list[Row] = (
        [dict(zip(names, combo, strict=True)) for combo in itertools.product(*(v for _, v in axes))]
        if axes and all(values for _, values in axes)
        else []
    )
    rows = [row for row in rows if not any(_matches(row, rule) for rule in exclude)]
    base_keys = set(names)
    originals = [dict(row) for row in rows]
    for entry in include:
        if not isinstance(entry, dict):
            continue
        added = False
        # An include entry extends every original combination whose original values it
        # matches (later entries may overwrite values added earlier, never original ones);
        # if it extends none, it becomes a combination of its own.
        for row, original in zip(rows, originals, strict=False):
            if all(_equal(original[k], v) for k, v in entry.items() if k in base_keys):
                row.update((k, v) for k, v in entry.items() if k not in base_keys)
                added = True
        if not added:
            rows.append(dict(entry))
    return rows[:MAX_ROWS] if rows else [{}]


def _matches(row: Row, rule: Value) -> bool:
    if not isinstance(rule, dict):
        return False
    return all(key in row and _equal(row[key], value) for key, value in rule.items())


def _equal(a: Value, b: Value) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return all(k in a and _equal(a[k], v) for k, v in b.items())
    return a == b

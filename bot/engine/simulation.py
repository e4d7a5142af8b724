"""Simulating a job: its matrix rows, environment and steps in order, which Pythons each
row installs and where, and which cache key names which interpreter build.

The rules read this model; they never simulate anything themselves.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from bot.engine.actions import CHECKOUT, DEADSNAKES, NOX, SETUP_PYTHON, ActionRef, setup_uv_major
from bot.engine.caches import Artefact, artefact_of_path, artefact_of_script
from bot.engine.document import YMap, YScalar
from bot.engine.expressions import (
    UNKNOWN,
    Evaluator,
    Value,
    condition,
    find_expressions,
    references_in,
    render,
    to_string,
)
from bot.engine.interpreters import Fetched, Install, Resolution, container_install, install_of
from bot.engine.source import Source
from bot.engine.versions import Candidate, describe
from bot.engine.workflow import Job, Row, Step, to_value

Pair = tuple[Install, Candidate]


@dataclass
class Context:
    source: Source
    resolution: Resolution
    # Matrix rows times simulated steps: what detection cost (about 7 µs a unit here).
    work: int = 0


def relevant_steps(job: Job, text: str, wanted: Callable[[Step], bool]) -> list[Step]:
    """The steps whose effects the rules read: Python setups, caches, uv commands, CPython
    source fetched and built, and steps whose outputs or exported variables a key or path
    may name. Only these are simulated per matrix row."""
    words = _RUN_WORDS
    job_text = text[job.node.start : job.node.end]
    if any(source in job_text for source in _SOURCES):
        words += ("configure", "make", "build.bat")
    if "deadsnakes/nightly" in job_text:
        words += ("apt",)
    return [
        step
        for step in job.steps
        if wanted(step)
        or step.id is not None
        or (step.uses is not None and step.uses.name in (SETUP_PYTHON, DEADSNAKES, NOX))
        or (
            step.uses is not None
            and step.uses.name == CHECKOUT
            and step.input("repository") is not None
        )
        or (step.run is not None and any(word in step.run for word in words))
    ]


# What a run step must mention to matter: uv, an exported variable, a written pin, a
# CPython fetched or built, a nightly installer.
_RUN_WORDS: tuple[str, ...] = (
    "uv",
    "GITHUB_ENV",
    ".python-version",
    "pyenv",
    "python/cpython",
    "python.org/ftp",
    "deadsnakes/nightly",
)
_SOURCES = ("python/cpython", "python.org/ftp")


# --- rows -----------------------------------------------------------------------------


def _env(maps: list[YMap], evaluator: Evaluator | None = None) -> dict[str, Value]:
    result: dict[str, Value] = {}
    for mapping in maps:
        for name, value in mapping.pairs:
            if isinstance(value, YScalar) and "${{" in value.value and evaluator is not None:
                rendered = render(value.value, evaluator)
                result[name.value] = rendered if isinstance(rendered, str) else UNKNOWN
            elif isinstance(value, YScalar) and "${{" not in value.value:
                result[name.value] = value.text
            else:
                result[name.value] = UNKNOWN
    return result


def _runner_os(job: Job, evaluator: Evaluator) -> Value:
    runs_on = job.node.get("runs-on")
    if runs_on is None:
        return UNKNOWN
    if isinstance(runs_on, YScalar):
        value: Value = render(runs_on.value, evaluator)
    else:
        value = to_value(runs_on)
    labels = value if isinstance(value, list) else [value]
    text = " ".join(str(to_string(label)) for label in labels).lower()
    if value is UNKNOWN or "unknown" in text:
        return UNKNOWN
    for needle, name in (
        ("ubuntu", "Linux"),
        ("linux", "Linux"),
        ("macos", "macOS"),
        ("windows", "Windows"),
    ):
        if needle in text:
            return name
    return UNKNOWN


def distinct_rows(job: Job, context: Context) -> list[Row | None]:
    """Matrix rows that differ in the values the job reads; a 4x64 matrix whose steps read
    only ``matrix.python`` is analysed once per Python."""
    if job.rows is None:
        return [None]
    text = context.source.text[job.node.start : job.node.end]
    used = set(re.findall(r"matrix\.([A-Za-z_][\w-]*)", text))
    if re.search(r"matrix\s*\[|matrix\s*\)|matrix\s*\}\}|matrix\.\*", text):
        return list(job.rows)  # the whole matrix is read: keep every row
    distinct: dict[str, Row] = {}
    for row in job.rows:
        projected = {key: value for key, value in row.items() if key in used}
        distinct.setdefault(repr(sorted(projected.items())), projected)
    return list(distinct.values())


@dataclass
class SimulatedRow:
    """What the steps of one matrix row do, in order."""

    steps: list[Step]
    evaluators: dict[int, Evaluator]
    installs: list[Install]
    env: dict[str, Value]
    by_id: dict[str, Step] = field(init=False)
    # Run steps that write $GITHUB_ENV, which may export a version for later keys.
    env_writers: list[Step] = field(init=False)
    _prereleases: list[tuple[Install, Candidate]] = field(init=False)

    def __post_init__(self) -> None:
        self.by_id = {}
        for step in self.steps:
            if step.id:
                self.by_id.setdefault(step.id, step)
        self.env_writers = [s for s in self.steps if s.run and "GITHUB_ENV" in s.run]
        self._prereleases = [(i, c) for i in self.installs for c in i.candidates if c.prerelease]

    def prereleases(self) -> list[tuple[Install, Candidate]]:
        return self._prereleases

    def earlier(self, step_id: str, than: Step) -> Step | None:
        step = self.by_id.get(step_id)
        return step if step is not None and step.index < than.index else None


def simulate(
    job: Job, rows: list[Row | None], steps: list[Step], options: list[Value], context: Context
) -> Iterator[SimulatedRow]:
    """Each matrix row (for each set of caller inputs) that runs the job, simulated over the
    relevant steps; rows that can run no pre-release are left out."""
    for inputs, row in itertools.product(options, rows):
        matrix: Value = row if row is not None else UNKNOWN
        base: dict[str, Value] = {"matrix": matrix, "inputs": inputs}
        evaluator = Evaluator(base)
        runner = {"os": _runner_os(job, evaluator), "arch": UNKNOWN, "temp": UNKNOWN}
        env = _env(job.env, Evaluator({**base, "runner": runner}))
        evaluator = Evaluator({**base, "runner": runner, "env": env})
        job_if = job.node.text("if")
        if job_if is not None and condition(job_if, evaluator) is False:
            continue
        simulated = _simulate_row(job, steps, context, evaluator, base, runner, env)
        if simulated.prereleases():
            yield simulated


def _simulate_row(
    job: Job,
    relevant: list[Step],
    context: Context,
    evaluator: Evaluator,
    base: dict[str, Value],
    runner: dict[str, Value],
    env: dict[str, Value],
) -> SimulatedRow:
    steps: list[Step] = []
    evaluators: dict[int, Evaluator] = {}
    container = container_install(job, evaluator, context.resolution)
    installs: list[Install] = [container] if container is not None else []
    fetched = Fetched()
    for step in relevant:
        step_env = step.node.mapping("env")
        if step_env is None:
            step_evaluator = evaluator
        else:
            scoped = {**env, **_env([step_env], evaluator)}
            step_evaluator = Evaluator({**base, "runner": runner, "env": scoped})
        step_if = step.node.text("if")
        if step_if is not None and condition(step_if, step_evaluator) is False:
            continue
        steps.append(step)
        evaluators[step.index] = step_evaluator
        install = install_of(step, step_evaluator, context.resolution, fetched)
        if install is not None:
            installs.append(install)
        fetched.after(step, step_evaluator, install)
    return SimulatedRow(steps, evaluators, installs, env)


# --- what the rules ask of a row ---------------------------------------------------------


def describe_pythons(pairs: list[Pair], context: Context) -> list[str]:
    """How messages name these Pythons, each once."""
    result: list[str] = []
    for _, candidate in pairs:
        text = describe(candidate, context.resolution.releases, context.resolution.as_of)
        if text not in result:
            result.append(text)
    return result


def cached_artefact(step: Step, row: SimulatedRow, path: str) -> Artefact | None:
    """The Python artefact a cache path holds, following step outputs and env variables."""
    found = artefact_of_path(path)
    if found is not None:
        return found
    for ref in references_in(path):
        parts = ref.split(".")
        if parts[0] == "steps" and len(parts) >= 2:
            producer = row.earlier(parts[1], step)
            if producer is not None and producer.run:
                found = artefact_of_script(producer.run)
        elif parts[0] == "env" and len(parts) == 2:
            value = row.env.get(parts[1])
            found = artefact_of_path(parts[1]) or (
                artefact_of_path(value) if isinstance(value, str) else None
            )
        if found is not None:
            return found
    return None


# The interpreter may be a quoted path: "$HOME/py/bin/python3" -VV.
_VERSION_SCRIPT = re.compile(
    r"python[\d.]*[\"']?\s+(-VV|-V|--version)|sys\.version|platform\.python_version"
    r"|python_version\(\)"
)
_FULL_VERSION_SCRIPT = re.compile(r"python[\d.]*[\"']?\s+-VV|sys\.version(?!_info)")


# Variables setup-python exports, each a path under the directory named by the full version.
_SETUP_PYTHON_LOCATIONS = {
    "pythonLocation",
    "Python_ROOT_DIR",
    "Python2_ROOT_DIR",
    "Python3_ROOT_DIR",
}


def covers(
    key: str, install: Install, candidate: Candidate, cache: Step, row: SimulatedRow
) -> bool:
    """Does this key (or restore-key prefix) name the exact build of ``candidate``?"""
    for ref in references_in(key):
        parts = ref.split(".")
        if parts[0] == "steps" and len(parts) >= 4 and parts[2] == "outputs":
            producer = row.earlier(parts[1], cache)
            if producer is None:
                continue
            if (
                producer is install.step
                and install.installer == "setup-python"
                # python-path lies under the tool-cache directory named by the full version.
                and parts[3] in ("python-version", "python-path")
                and candidate is install.candidates[-1]
                and not candidate.nightly
            ):
                return True
            if (
                producer.run
                and producer.index > install.step.index
                and _reveals_version(producer.run, candidate)
            ):
                return True
        elif parts[0] == "env" and len(parts) == 2:
            if parts[1] in _SETUP_PYTHON_LOCATIONS:
                if (
                    install.sets_python_location
                    and install.step.index < cache.index
                    and candidate is install.candidates[-1]
                    and not candidate.nightly
                ):
                    return True
            elif any(
                install.step.index < s.index < cache.index
                and parts[1] in s.run
                and _reveals_version(s.run, candidate)
                for s in row.env_writers
                if s.run
            ):
                return True
    if candidate.exact:
        rendered = render(key, row.evaluators[cache.index], unknown="\0")
        return isinstance(rendered, str) and candidate.request in rendered
    return False


def _reveals_version(script: str, candidate: Candidate) -> bool:
    pattern = _FULL_VERSION_SCRIPT if candidate.nightly else _VERSION_SCRIPT
    return bool(pattern.search(script))


def restore_keys(step: Step) -> tuple[YScalar | None, list[str]]:
    inputs = step.inputs
    value = inputs.get("restore-keys") if inputs else None
    if not isinstance(value, YScalar):
        return None, []
    return value, [line.strip() for line in value.text.splitlines() if line.strip()]


def mentions_request(key: str, pairs: list[Pair]) -> bool:
    """Does the key hold an expression of the requested version (``matrix.python``)?"""
    return any(
        i.request_text and any(e.body in i.request_text for e in find_expressions(key))
        for i, _ in pairs
    )


def setup_uv_caches(step: Step, uses: ActionRef, row: SimulatedRow) -> bool:
    """Does this setup-uv step restore a uv cache (on by default from v5; before, only
    with ``enable-cache: true``) whose ``cache-suffix`` does not already name every
    pre-release build of the row?"""
    evaluator = row.evaluators[step.index]
    major = setup_uv_major(uses)
    enable_node = step.input("enable-cache")
    enable = render(enable_node.text, evaluator) if enable_node is not None else "auto"
    enable = enable.strip().lower() if isinstance(enable, str) else "auto"
    if enable == "false" or (enable != "true" and major < 5):
        return False
    suffix = step.input("cache-suffix")
    return suffix is None or not all(
        covers(suffix.text, i, c, step, row) for i, c in row.prereleases()
    )


def cached_key(step: Step, row: SimulatedRow) -> tuple[Artefact, YScalar] | None:
    """What an actions/cache step caches and its key, when it caches Python build
    artefacts under a path that does not itself name the build."""
    path = step.input("path")
    key = step.input("key")
    if path is None or key is None:
        return None
    if re.search(r"env\.(pythonLocation|Python[23]?_ROOT_DIR)\b", path.value, re.I):
        return None  # the cache version hashes the path, which holds the full version
    artefact = cached_artefact(step, row, path.text)
    return None if artefact is None else (artefact, key)


def key_hazards(row: SimulatedRow, artefact: Artefact) -> list[Pair]:
    """The pre-releases of the row whose builds a cache of ``artefact`` can mix up."""
    return [(i, c) for i, c in row.prereleases() if c.nightly or not artefact.checks_interpreter]

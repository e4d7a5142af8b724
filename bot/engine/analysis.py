"""The rules: for each job and matrix row, which Pythons can run and which caches can
restore wheels built by another build of the same pre-release."""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

from bot.engine import rules
from bot.engine.actions import (
    CACHE,
    CHECKOUT,
    DEADSNAKES,
    NOX,
    PRE_COMMIT,
    SETUP_PYTHON,
    SETUP_UV,
    ActionRef,
    setup_python_cache,
    setup_uv_major,
)
from bot.engine.caches import Artefact, artefact_of_path, artefact_of_script
from bot.engine.config import Config
from bot.engine.document import DocumentError, YMap, YNode, YScalar, parse_document
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
from bot.engine.findings import Analysis, FileError, Finding
from bot.engine.interpreters import (
    Fetched,
    Install,
    Resolution,
    container_install,
    install_of,
)
from bot.engine.names import rule_hint, rule_named
from bot.engine.source import Source
from bot.engine.versions import Candidate, Installer, ReleaseTable, describe
from bot.engine.workflow import Job, NotAWorkflow, Row, Step, load_workflow, to_value

_SHIPPED_RELEASES = ReleaseTable.shipped()


@dataclass
class Issue:
    """A rule broken at one place, gathered over every matrix row that breaks it."""

    rule: rules.Rule
    job: Job
    step: Step
    node: YNode
    reason: str
    pythons: list[str] = field(default_factory=list)
    # For fixes: the steps that installed the unsafe Pythons, by step index, and how.
    sources: set[int] = field(default_factory=set)
    fixable: bool = True
    installers: dict[int, Installer] = field(default_factory=dict)
    # Some unsafe Python is a nightly: only a hash of ``python -VV`` tells its builds apart.
    nightly: bool = False
    # Every matrix row puts exactly one interpreter on PATH, so ``python -VV`` names it.
    one_interpreter: bool = True
    # The one exact pre-release uv fetches, which setup-uv's python-version can name.
    pin: str | None = None
    # Why no fix is offered, when the reason is known where the issue is found.
    no_fix: str = ""

    @property
    def identity(self) -> tuple[str, str, str]:
        return (self.rule.id, self.job.id, self.anchor)

    @functools.cached_property
    def anchor(self) -> str:
        """The step by its label and its rank among steps so labelled: unlike its position,
        this survives steps added or moved above it (fixes move steps; fingerprints in
        review comments must not change when a pull request adds a step)."""
        same = [step for step in self.job.steps if step.label == self.step.label]
        rank = next(n for n, step in enumerate(same) if step is self.step)
        return f"{self.step.label}#{rank}"

    def add(self, pythons: list[str]) -> None:
        self.pythons.extend(p for p in pythons if p not in self.pythons)


@dataclass
class Context:
    source: Source
    resolution: Resolution
    # Matrix rows times simulated steps: what detection cost (about 7 µs a unit here).
    work: int = 0


def analyse(
    text: str,
    *,
    config: Config | None = None,
    as_of: date | None = None,
    releases: ReleaseTable | None = None,
    inputs: Sequence[Mapping[str, Value]] = (),
) -> Analysis:
    """Find the unsafe caches in one workflow or composite action, with verified fixes.

    ``releases`` replaces the shipped release table (a server may refresh it from
    actions/python-versions' manifest with ``ReleaseTable.with_manifest``); the
    configuration's ``released`` overrides apply on top of either. ``inputs`` are what
    callers pass to this reusable workflow or composite action (``bot.engine.calls``).
    """
    config = config or Config()
    table = (releases or _SHIPPED_RELEASES).overridden(config.released)
    resolution = Resolution(as_of or date.today(), table, tuple(dict(i) for i in inputs))
    try:
        issues, context = detect(text, resolution)
    except DocumentError as exc:
        return Analysis(error=FileError(exc.message, exc.line, exc.column))
    except NotAWorkflow as exc:
        return Analysis(error=FileError(str(exc), exc.line, exc.column))
    from bot.engine.fixes import verified_fixes  # fixes re-run detection: import late

    reported = [
        issue
        for issue in issues
        if issue.rule.id not in config.disabled_rules and not _suppressed(issue, context)
    ]
    fixes = verified_fixes(reported, issues, context)
    findings = [
        Finding(
            rule_id=issue.rule.id,
            rule_name=issue.rule.name,
            job=issue.job.id,
            message=_message(issue),
            span=context.source.node_span(issue.node),
            fix=fixes.get(id(issue)),
            pythons=tuple(issue.pythons),
            anchor=issue.anchor,
            no_fix_reason="" if id(issue) in fixes else issue.no_fix or _NO_FIX,
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
_PINNED = "the action is pinned to a commit: choose the release to pin (and its commit) yourself"


def _suppressed(issue: Issue, context: Context) -> bool:
    span = context.source.node_span(issue.node)
    step = context.source.node_span(issue.step.node)
    return context.source.suppressed(
        issue.rule.id,
        issue.rule.name,
        min(span.line, step.line),
        max(span.end_line, step.end_line),
    )


def _message(issue: Issue) -> str:
    shared = ", ".join(issue.pythons[:6]) + (" and others" if len(issue.pythons) > 6 else "")
    return f"{issue.reason} Pythons that share it: {shared}."


# Matrix rows times simulated steps, over all jobs: bounds detection to about 0.7 s here.
MAX_WORK = 100_000


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
        if (jobs is None or job.id in jobs) and any(map(_may_cache, job.steps))
    ]
    plans = [(job, _distinct_rows(job, context), _relevant_steps(job, text)) for job in selected]
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
        for issue in _job_issues(job, rows, steps, options, context):
            key = (issue.rule.id, job.id, issue.step.index, issue.node.start)
            if key in found:
                found[key].add(issue.pythons)
                found[key].sources |= issue.sources
                found[key].fixable &= issue.fixable
                found[key].installers.update(issue.installers)
                found[key].nightly |= issue.nightly
                found[key].one_interpreter &= issue.one_interpreter
                if found[key].pin != issue.pin:  # rows pin different versions
                    found[key].pin = None
                    found[key].fixable = False
                    found[key].no_fix = (
                        "matrix rows fetch different pre-releases, so no one python-version "
                        "input names them all"
                    )
            else:
                found[key] = issue
    return list(found.values()), context


def _may_cache(step: Step) -> bool:
    """Could this step cache Python artefacts? Jobs without such a step are skipped."""
    uses = step.uses
    if uses is None:
        return False
    if uses.owner_repo == CACHE or uses.name in (PRE_COMMIT, SETUP_UV):
        return True
    return uses.name == SETUP_PYTHON and step.input("cache") is not None


def _relevant_steps(job: Job, text: str) -> list[Step]:
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
        if _may_cache(step)
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


# --- per job and row --------------------------------------------------------------------


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


def _distinct_rows(job: Job, context: Context) -> list[Row | None]:
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


def _job_issues(
    job: Job, rows: list[Row | None], steps: list[Step], options: list[Value], context: Context
) -> Iterator[Issue]:
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
        yield from _row_issues(job, steps, context, evaluator, base, runner, env)


@dataclass
class _Row:
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


def _row_issues(
    job: Job,
    relevant: list[Step],
    context: Context,
    evaluator: Evaluator,
    base: dict[str, Value],
    runner: dict[str, Value],
    env: dict[str, Value],
) -> Iterator[Issue]:
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
    row = _Row(steps, evaluators, installs, env)
    if not row.prereleases():
        return
    for step in steps:
        uses = step.uses
        if uses is None:
            continue
        if uses.owner_repo == CACHE and uses.path in ("", "restore", "save"):
            yield from _cache_step(job, step, row, context)
        elif uses.name == PRE_COMMIT:
            yield from _pre_commit_step(job, step, row, context)
        elif uses.name == SETUP_PYTHON:
            yield from _setup_python_cache(job, step, uses, row, context)
        elif uses.name == SETUP_UV:
            yield from _setup_uv_cache(job, step, uses, row, context)


def _describe(pairs: list[tuple[Install, Candidate]], context: Context) -> list[str]:
    result: list[str] = []
    for _, candidate in pairs:
        text = describe(candidate, context.resolution.releases, context.resolution.as_of)
        if text not in result:
            result.append(text)
    return result


# --- actions/cache ----------------------------------------------------------------------


def _artefact(step: Step, row: _Row, path: str) -> Artefact | None:
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


def covers(key: str, install: Install, candidate: Candidate, cache: Step, row: _Row) -> bool:
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


def _restore_keys(step: Step) -> tuple[YScalar | None, list[str]]:
    inputs = step.inputs
    value = inputs.get("restore-keys") if inputs else None
    if not isinstance(value, YScalar):
        return None, []
    return value, [line.strip() for line in value.text.splitlines() if line.strip()]


def _cache_step(job: Job, step: Step, row: _Row, context: Context) -> Iterator[Issue]:
    path = step.input("path")
    key = step.input("key")
    if path is None or key is None:
        return
    if re.search(r"env\.(pythonLocation|Python[23]?_ROOT_DIR)\b", path.value, re.I):
        return  # the cache version hashes the path, which holds the full version
    artefact = _artefact(step, row, path.text)
    if artefact is None:
        return
    yield from _key_issues(job, step, row, context, artefact, key)


def _key_issues(
    job: Job, step: Step, row: _Row, context: Context, artefact: Artefact, key: YScalar
) -> Iterator[Issue]:
    hazards = [(i, c) for i, c in row.prereleases() if c.nightly or not artefact.checks_interpreter]
    uncovered = [(i, c) for i, c in hazards if not covers(key.text, i, c, step, row)]
    installers = {i.step.index: i.installer for i, _ in hazards}
    on_path = {i.step.index for i in row.installs if i.on_path}

    def issue(rule: rules.Rule, node: YNode, reason: str, pairs: list[Pair]) -> Issue:
        return Issue(
            rule,
            job,
            step,
            node,
            reason,
            _describe(pairs, context),
            sources=set(installers),
            # setup-python and deadsnakes put the Python on PATH, where a key can name it.
            fixable=all(i.on_path for i, _ in hazards),
            no_fix="a Python that is not on PATH (a container's, or one uv manages) has no "
            "expression a key could name it by",
            installers=installers,
            nightly=any(c.nightly for _, c in hazards),
            one_interpreter=len(on_path) == 1,
        )

    if uncovered:
        requested = _mentions_request(key.text, uncovered)
        what = (
            "names the requested Python version, not the build that runs"
            if requested
            else "names no Python build"
        )
        yield issue(
            rules.PRERELEASE_CACHE_KEY,
            key,
            f"The key of this {artefact.value} {what}, so each new build of a pre-release "
            "restores wheels compiled against the previous one, whose ABI may differ (the "
            "wheel tag cannot tell them apart).",
            uncovered,
        )
        return
    node, restore = _restore_keys(step)
    if node is None:
        return
    for prefix in restore:
        missing = [(i, c) for i, c in hazards if not covers(prefix, i, c, step, row)]
        if missing:
            yield issue(
                rules.PRERELEASE_RESTORE_KEY,
                node,
                f"The key names the exact Python build, but the restore-key {prefix!r} does "
                "not: when the exact key misses (a new pre-release), the newest cache built "
                "by another build is restored instead.",
                missing,
            )
            return


Pair = tuple[Install, Candidate]


def _mentions_request(key: str, pairs: list[tuple[Install, Candidate]]) -> bool:
    return any(
        i.request_text and any(e.body in i.request_text for e in find_expressions(key))
        for i, _ in pairs
    )


def _pre_commit_step(job: Job, step: Step, row: _Row, context: Context) -> Iterator[Issue]:
    key = YScalar(
        step.node.start,
        step.node.end,
        step.node.line,
        step.node.column,
        "pre-commit-3|${{ env.pythonLocation }}",
        "str",
        None,
    )
    for issue in _key_issues(job, step, row, context, Artefact.PRE_COMMIT, key):
        uses = step.node.scalar("uses")
        issue.node = uses if uses is not None else step.node
        issue.fixable = False
        issue.no_fix = (
            "pre-commit/action builds its cache key itself; cache ~/.cache/pre-commit with "
            "actions/cache keyed on a hash of python -VV instead"
        )
        issue.reason = (
            "pre-commit/action keys its cache on env.pythonLocation, which no setup-python "
            "step sets for this interpreter, and nightly builds keep the same version_info, "
            "so pre-commit's own check does not rebuild its environments."
        )
        yield issue


# --- setup-python's cache input ---------------------------------------------------------


def _setup_python_cache(
    job: Job, step: Step, uses: ActionRef, row: _Row, context: Context
) -> Iterator[Issue]:
    node = step.input("cache")
    if node is None:
        return
    kind = render(node.text, row.evaluators[step.index])
    if not isinstance(kind, str) or kind.strip().lower() not in ("pip", "pipenv", "poetry"):
        return
    behaviour = setup_python_cache(uses, context.resolution.as_of)
    if not behaviour.supported:
        return
    install = next((i for i in row.installs if i.step is step), None)
    if kind.strip().lower() == "pip" and not behaviour.pip_key_has_version:
        pairs = row.prereleases()
        if pairs:
            yield Issue(
                rules.SETUP_PYTHON_UNVERSIONED_CACHE,
                job,
                step,
                node,
                f"actions/setup-python@{uses.ref} (v2.3.0/v2.3.1) builds its pip cache key "
                "with no Python version at all, so every Python of this job, pre-release "
                "builds included, shares one pip cache.",
                _describe(pairs, context),
                fixable=not uses.is_sha,
                no_fix=_PINNED,
            )
        return
    if install is None:
        return
    pre = [(install, c) for c in install.candidates if c.prerelease]
    if len(install.candidates) > 1 and pre:
        yield Issue(
            rules.SETUP_PYTHON_UNVERSIONED_CACHE,
            job,
            step,
            node,
            "With several versions in python-version, setup-python's cache key names only the "
            f"last one ({install.candidates[-1].request}), while all of them build wheels into "
            "the shared cache.",
            _describe(pre, context),
            fixable=False,
            no_fix="each Python needs its own setup-python step to get its own key: a change "
            "to the job's structure left to you",
        )
    elif any(c.nightly for _, c in pre):
        yield Issue(
            rules.SETUP_PYTHON_UNVERSIONED_CACHE,
            job,
            step,
            node,
            "For PyPy nightlies setup-python's cache key holds the constant word 'nightly', "
            "so every nightly build shares one cache.",
            _describe([p for p in pre if p[1].nightly], context),
            fixable=False,
            no_fix="setup-python's key cannot name a PyPy nightly build; cache with "
            "actions/cache keyed on a hash of python -VV instead",
        )
    elif kind.strip().lower() == "pip":
        # pip's cache directory is per user, not per interpreter: a Python installed later
        # (a deadsnakes or pyenv build, one built from source) fills the cache that this
        # key says belongs to setup-python's.
        later = [
            (i, c)
            for i, c in row.prereleases()
            if i.installer in ("deadsnakes", "build") and i.step.index > step.index
        ]
        if later:
            yield Issue(
                rules.SETUP_PYTHON_UNVERSIONED_CACHE,
                job,
                step,
                node,
                "setup-python's pip cache is keyed on the Python it installed, but a Python "
                f"installed later by '{later[0][0].step.label}' builds wheels into the same "
                "pip cache, and the key does not change with that Python's builds.",
                _describe(later, context),
                fixable=False,
                no_fix="the later Python needs a pip cache of its own (PIP_CACHE_DIR) with a "
                "key of its own: a change left to you",
            )


# --- setup-uv ---------------------------------------------------------------------------


def _setup_uv_cache(
    job: Job, step: Step, uses: ActionRef, row: _Row, context: Context
) -> Iterator[Issue]:
    evaluator = row.evaluators[step.index]
    major = setup_uv_major(uses)
    enable_node = step.input("enable-cache")
    enable = render(enable_node.text, evaluator) if enable_node is not None else "auto"
    enable = enable.strip().lower() if isinstance(enable, str) else "auto"
    if enable == "false" or (enable != "true" and major < 5):
        return
    hazards = row.prereleases()
    suffix = step.input("cache-suffix")
    if suffix is not None and all(covers(suffix.text, i, c, step, row) for i, c in hazards):
        return
    uses_node = step.node.scalar("uses") or step.node
    if major < 5:
        yield Issue(
            rules.SETUP_UV_UNVERSIONED_CACHE,
            job,
            step,
            enable_node or uses_node,
            f"astral-sh/setup-uv@{uses.ref} keys its uv cache without any Python version "
            "(the version joined the key in v5), so every Python of this job, pre-release "
            "builds included, shares one cache of built wheels.",
            _describe(hazards, context),
            fixable=not uses.is_sha,
            no_fix=_PINNED,
        )
        return
    requested = step.input("python-version")
    if requested is not None:
        own = [(i, c) for i, c in hazards if i.step is step and not c.exact]
        if own:
            yield Issue(
                rules.SETUP_UV_REQUESTED_VERSION_KEY,
                job,
                step,
                requested,
                "setup-uv puts its python-version input verbatim into the cache key, and uv "
                "selects a pre-release for a version with no final release, so every build of "
                "that pre-release shares one uv cache.",
                _describe(own, context),
                fixable=False,
                no_fix="both fixes (pin the exact pre-release, or set up Python first) change "
                "which Python the job runs: a choice left to you",
            )
        return
    # UV_PYTHON does not count: ``uv python find``, which setup-uv asks for the key, neither
    # reads it nor downloads, so a pre-release uv fetches later goes unnamed.
    found = [i for i in row.installs if i.step.index < step.index and i.installer != "uv"]
    keyed = found[-1] if found else None
    missed = [(i, c) for i, c in hazards if not _keyed_by(keyed, i, c)]
    if not missed:
        return
    where = f"the Python from '{keyed.step.label}'" if keyed else "the runner's default Python"
    # One exact pre-release that uv fetches: setup-uv's python-version puts it in the key.
    pins = {c.request for i, c in missed if i.installer == "uv" and c.exact}
    pin = pins.pop() if len(pins) == 1 and all(i.installer == "uv" for i, _ in missed) else None
    if keyed is not None and all(i is keyed for i, _ in missed):
        # A nightly or a build from source: the version it reports never changes.
        reason = (
            "setup-uv caches by default and keys the cache on the version of the Python it "
            f"finds ({where}), which is the same for every build of that Python, so each new "
            "build restores wheels compiled against the previous one; only a hash of "
            "python -VV (in cache-suffix) names the build."
        )
    else:
        reason = (
            "setup-uv caches by default and keys the cache on the Python it finds when it "
            f"runs ({where}), not on the Python this job installs later, so the pre-release "
            "builds share a uv cache keyed on another interpreter."
        )
    yield Issue(
        rules.SETUP_UV_BEFORE_PYTHON,
        job,
        step,
        uses_node,
        reason,
        _describe(missed, context),
        sources={i.step.index for i, _ in missed},
        # Moving setup-uv below the setup-python step that installs them fixes it.
        fixable=pin is not None
        or all(
            i.installer == "setup-python" and i.step.index > step.index and not c.nightly
            for i, c in missed
        ),
        pin=pin,
        no_fix="setup-uv cannot be moved below a step that installs this Python: it is a "
        "nightly, or installed by something other than a later setup-python step",
    )


def _keyed_by(keyed: Install | None, install: Install, candidate: Candidate) -> bool:
    """Is ``candidate`` the interpreter setup-uv found (``keyed``) and named exactly?"""
    if keyed is None or candidate.nightly or not keyed.candidates:
        return False
    last = keyed.candidates[-1]
    if install is keyed:
        return candidate is last
    # uv downloads nothing when an installed interpreter matches the request: a moving
    # request for the minor setup-uv found runs that one.
    return (
        install.installer == "uv"
        and not candidate.exact
        and not last.nightly
        and last.prerelease
        and candidate.minor is not None
        and candidate.minor == last.minor
    )

"""An issue: one rule broken at one place of a job, with what its fix needs to know."""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace

from bot.engine.document import YNode
from bot.engine.simulation import Context, Pair, SimulatedRow, describe_pythons
from bot.engine.versions import Installer
from bot.engine.workflow import Job, Step


@dataclass(frozen=True, eq=False)
class Issue:
    """A rule broken at one place, gathered over every matrix row that breaks it."""

    rule_id: str
    rule_name: str
    job: Job
    step: Step
    node: YNode
    reason: str
    pythons: tuple[str, ...] = ()
    # For fixes: the steps that installed the unsafe Pythons, by step index, and how.
    sources: frozenset[int] = frozenset()
    fixable: bool = True
    installers: tuple[tuple[int, Installer], ...] = ()
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
        return (self.rule_id, self.job.id, self.step_key)

    @functools.cached_property
    def step_key(self) -> str:
        """The step by its label and its rank among steps so labelled: unlike its position,
        this survives steps added or moved above it (fixes move steps; fingerprints in
        review comments must not change when a pull request adds a step)."""
        same = [step for step in self.job.steps if step.label == self.step.label]
        rank = next(n for n, step in enumerate(same) if step is self.step)
        return f"{self.step.label}#{rank}"

    def installer_of(self, index: int) -> Installer | None:
        return dict(self.installers).get(index)

    def merged(self, other: Issue) -> Issue:
        """This issue and the same one found in another matrix row, as one."""
        pin = self.pin if self.pin == other.pin else None
        no_fix = self.no_fix
        if self.pin != other.pin:
            no_fix = (
                "matrix rows fetch different pre-releases, so no one python-version input names "
                "them all"
            )
        return replace(
            self,
            pythons=self.pythons + tuple(p for p in other.pythons if p not in self.pythons),
            sources=self.sources | other.sources,
            # Rows that pin different versions leave no one version to pin.
            fixable=self.fixable and other.fixable and self.pin == other.pin,
            installers=tuple({**dict(self.installers), **dict(other.installers)}.items()),
            nightly=self.nightly or other.nightly,
            one_interpreter=self.one_interpreter and other.one_interpreter,
            pin=pin,
            no_fix=no_fix,
        )


def key_issue(
    rule_id: str,
    rule_name: str,
    job: Job,
    step: Step,
    node: YNode,
    reason: str,
    pairs: list[Pair],
    hazards: list[Pair],
    row: SimulatedRow,
    context: Context,
) -> Issue:
    """An issue with a cache key that does not name the builds in ``pairs``, among the
    ``hazards`` of the row (the Pythons whose builds the cache can mix up)."""
    installers = {i.step.index: i.installer for i, _ in hazards}
    on_path = {i.step.index for i in row.installs if i.on_path}
    return Issue(
        rule_id,
        rule_name,
        job,
        step,
        node,
        reason,
        tuple(describe_pythons(pairs, context)),
        sources=frozenset(installers),
        # setup-python and deadsnakes put the Python on PATH, where a key can name it.
        fixable=all(i.on_path for i, _ in hazards),
        no_fix="a Python that is not on PATH (a container's, or one uv manages) has no "
        "expression a key could name it by",
        installers=tuple(installers.items()),
        nightly=any(c.nightly for _, c in hazards),
        one_interpreter=len(on_path) == 1,
    )

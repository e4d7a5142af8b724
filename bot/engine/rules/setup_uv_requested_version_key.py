"""WW004: setup-uv keys its cache on its python-version input, verbatim."""

from __future__ import annotations

from collections.abc import Iterator

from bot.engine.actions import SETUP_UV, setup_uv_major
from bot.engine.issues import Issue
from bot.engine.rules.base import Rule
from bot.engine.simulation import Context, SimulatedRow, describe_pythons, setup_uv_caches
from bot.engine.workflow import Job, Step


class SetupUvRequestedVersionKey(Rule):
    r"""astral-sh/setup-uv keys its cache on the requested Python version.

    When its `python-version` input is set, `astral-sh/setup-uv` puts that input string
    verbatim into the cache key, and uv quietly picks a pre-release for a minor version that
    has no final release yet. Every alpha and beta of that version then shares one uv cache.
    Pin the pre-release exactly, or set up Python first (actions/setup-python) and leave
    setup-uv's `python-version` unset so that it keys on the full version it finds.

    Unsafe:

    ```yaml
    - uses: astral-sh/setup-uv@v7
      with:
        python-version: "3.16"
        enable-cache: true
    ```

    Fixed:

    ```yaml
    - uses: actions/setup-python@v6
      with:
        python-version: "3.16"
        allow-prereleases: true
    - uses: astral-sh/setup-uv@v7
      with:
        enable-cache: true
    ```
    """

    id = "WW004"
    name = "setup-uv-requested-version-key"

    def wants(self, step: Step) -> bool:
        return step.uses is not None and step.uses.name == SETUP_UV

    def check(self, job: Job, step: Step, row: SimulatedRow, context: Context) -> Iterator[Issue]:
        uses = step.uses
        assert uses is not None
        requested = step.input("python-version")
        if requested is None or setup_uv_major(uses) < 5 or not setup_uv_caches(step, uses, row):
            return
        own = [(i, c) for i, c in row.prereleases() if i.step is step and not c.exact]
        if own:
            yield Issue(
                self.id,
                self.name,
                job,
                step,
                requested,
                "setup-uv puts its python-version input verbatim into the cache key, and uv "
                "selects a pre-release for a version with no final release, so every build of "
                "that pre-release shares one uv cache.",
                tuple(describe_pythons(own, context)),
                fixable=False,
                no_fix="both fixes (pin the exact pre-release, or set up Python first) change "
                "which Python the job runs: a choice left to you",
            )

"""WW005: setup-uv before v5, whose cache key holds no Python version."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from bot.engine.actions import SETUP_UV, setup_uv_major
from bot.engine.findings import Fix
from bot.engine.fixes import ref_fix
from bot.engine.issues import Issue
from bot.engine.rules.base import PINNED, Rule
from bot.engine.simulation import Context, SimulatedRow, describe_pythons, setup_uv_caches
from bot.engine.workflow import Job, Step


class SetupUvUnversionedCache(Rule):
    r"""astral-sh/setup-uv before v5 caches with no Python version in the key.

    Before v5.0.0, `astral-sh/setup-uv` built its cache key from the platform, the uv version
    and the dependency files only, so with `enable-cache: true` every Python of the job,
    pre-releases included, shares one uv cache of built wheels. Upgrade to setup-uv v5 or
    later, whose key holds the Python version.

    Unsafe:

    ```yaml
    - uses: actions/setup-python@v6
      with:
        python-version: "3.16"
        allow-prereleases: true
    - uses: astral-sh/setup-uv@v3
      with:
        enable-cache: true
    ```

    Fixed:

    ```yaml
    - uses: actions/setup-python@v6
      with:
        python-version: "3.16"
        allow-prereleases: true
    - uses: astral-sh/setup-uv@v5
      with:
        enable-cache: true
    ```
    """

    id = "WW005"
    name = "setup-uv-unversioned-cache"
    fix_summary = "upgrade to v5"

    def wants(self, step: Step) -> bool:
        return step.uses is not None and step.uses.name == SETUP_UV

    def check(self, job: Job, step: Step, row: SimulatedRow, context: Context) -> Iterator[Issue]:
        uses = step.uses
        assert uses is not None
        if setup_uv_major(uses) >= 5 or not setup_uv_caches(step, uses, row):
            return
        yield Issue(
            self.id,
            self.name,
            job,
            step,
            step.input("enable-cache") or step.node.scalar("uses") or step.node,
            f"astral-sh/setup-uv@{uses.ref} keys its uv cache without any Python version "
            "(the version joined the key in v5), so every Python of this job, pre-release "
            "builds included, shares one cache of built wheels.",
            tuple(describe_pythons(row.prereleases(), context)),
            fixable=not uses.is_sha,
            no_fix=PINNED,
        )

    def propose(self, issue: Issue, context: Context, alongside: Sequence[Issue]) -> Fix | None:
        return ref_fix(
            issue,
            context,
            "v5",
            "Use astral-sh/setup-uv@v5, whose cache key holds the Python version",
        )

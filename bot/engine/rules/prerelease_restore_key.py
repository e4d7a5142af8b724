"""WW002: an exact key whose restore-keys fall back to other builds."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from bot.engine.actions import CACHE
from bot.engine.findings import Fix
from bot.engine.fixes import key_fix, keyed_caches
from bot.engine.issues import Issue, key_issue
from bot.engine.rules.base import Rule
from bot.engine.simulation import (
    Context,
    SimulatedRow,
    cached_key,
    covers,
    key_hazards,
    restore_keys,
)
from bot.engine.workflow import Job, Step


class PrereleaseRestoreKey(Rule):
    r"""A restore-key drops the exact Python version and reopens the hazard.

    The primary `key` names the exact Python build, but a `restore-keys` prefix does not. On
    the first run after a new pre-release the exact key misses, and actions/cache then
    restores the newest cache whose key starts with the prefix: the one built by the previous
    pre-release. Put the same exact version into every restore-key, or drop the restore-keys.

    Unsafe:

    ```yaml
    - uses: actions/setup-python@v6
      id: setup-python
      with:
        python-version: "3.16-dev"
    - uses: actions/cache@v5
      with:
        path: ~/.cache/pip
        key: pip-${{ steps.setup-python.outputs.python-version }}-${{ hashFiles('setup.py') }}
        restore-keys: |
          pip-
    ```

    Fixed:

    ```yaml
    - uses: actions/setup-python@v6
      id: setup-python
      with:
        python-version: "3.16-dev"
    - uses: actions/cache@v5
      with:
        path: ~/.cache/pip
        key: pip-${{ steps.setup-python.outputs.python-version }}-${{ hashFiles('setup.py') }}
        restore-keys: |
          pip-${{ steps.setup-python.outputs.python-version }}-
    ```
    """

    id = "WW002"
    name = "prerelease-restore-key"
    fix_summary = "the key's exact version token in each restore-key"

    def wants(self, step: Step) -> bool:
        uses = step.uses
        return (
            uses is not None and uses.owner_repo == CACHE and uses.path in ("", "restore", "save")
        )

    def check(self, job: Job, step: Step, row: SimulatedRow, context: Context) -> Iterator[Issue]:
        cached = cached_key(step, row)
        if cached is None:
            return
        artefact, key = cached
        hazards = key_hazards(row, artefact)
        if any(not covers(key.text, i, c, step, row) for i, c in hazards):
            return  # WW001's: the key itself does not name the build
        node, prefixes = restore_keys(step)
        if node is None:
            return
        for prefix in prefixes:
            missing = [(i, c) for i, c in hazards if not covers(prefix, i, c, step, row)]
            if missing:
                yield key_issue(
                    self.id,
                    self.name,
                    job,
                    step,
                    node,
                    f"The key names the exact Python build, but the restore-key {prefix!r} does "
                    "not: when the exact key misses (a new pre-release), the newest cache built "
                    "by another build is restored instead.",
                    missing,
                    hazards,
                    row,
                    context,
                )
                return

    def propose(self, issue: Issue, context: Context, alongside: Sequence[Issue]) -> Fix | None:
        return key_fix(issue, context, keyed_caches(alongside))

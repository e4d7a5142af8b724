"""WW001: a Python package cache keyed on the requested version, not the build."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace

from bot.engine.actions import CACHE, PRE_COMMIT
from bot.engine.caches import Artefact
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
    mentions_request,
)
from bot.engine.workflow import Job, Step


class PrereleaseCacheKey(Rule):
    r"""A Python package cache is keyed on the requested Python version, not the resolved one.

    An `actions/cache` step stores a pip, uv, Poetry or Pipenv cache, a virtualenv or a
    tox/nox tree, and its `key` does not contain the exact Python build, while the job can run
    a pre-release Python (`3.16-dev`, `3.16` with `allow-prereleases`, a deadsnakes nightly,
    ...). Every build of that pre-release then shares one cache. Key the cache on
    `steps.<setup-python id>.outputs.python-version` (for example `3.16.0-alpha.2`) or
    `env.pythonLocation`. A CPython built in the job (a checkout, clone or download of its
    source, `pyenv install 3.16-dev`) or installed from a nightly installer (deadsnakes, its
    nightly PPA) is a new build under one version number on every run: only a hash of its
    `python -VV` (build date and commit) names it.

    Unsafe:

    ```yaml
    strategy:
      matrix:
        python-version: ["3.15", "3.16-dev"]
    steps:
      - uses: actions/setup-python@v6
        with:
          python-version: ${{ matrix.python-version }}
      - uses: actions/cache@v5
        with:
          path: ~/.cache/pip
          key: ${{ runner.os }}-pip-${{ matrix.python-version }}-${{ hashFiles('requirements.txt') }}
    ```

    Fixed:

    ```yaml
    strategy:
      matrix:
        python-version: ["3.15", "3.16-dev"]
    steps:
      - uses: actions/setup-python@v6
        id: setup-python
        with:
          python-version: ${{ matrix.python-version }}
      - uses: actions/cache@v5
        with:
          path: ~/.cache/pip
          key: ${{ runner.os }}-pip-${{ steps.setup-python.outputs.python-version }}-${{ hashFiles('requirements.txt') }}
    ```

    ### A CPython built in the job, or from a nightly installer

    The fix wheelwatch offers when the built Python is `python` on PATH.

    Unsafe:

    ```yaml
    - run: pyenv install 3.16-dev && pyenv global 3.16-dev  # builds the branch head
    - uses: actions/cache@v5
      with:
        path: ~/.cache/pip
        key: pip-${{ hashFiles('requirements.txt') }}
    ```

    Fixed:

    ```yaml
    - run: pyenv install 3.16-dev && pyenv global 3.16-dev
    - name: Hash the Python build
      shell: bash
      run: echo "PYTHON_BUILD=$(python -VV | sha256sum | cut -d' ' -f1)" >> "$GITHUB_ENV"
    - uses: actions/cache@v5
      with:
        path: ~/.cache/pip
        key: pip-${{ env.PYTHON_BUILD }}-${{ hashFiles('requirements.txt') }}
    ```
    """

    id = "WW001"
    name = "prerelease-cache-key"
    fix_summary = (
        "key on `steps.<id>.outputs.python-version` (adds the `id:` if needed), or on a hash "
        "of `python -VV`"
    )

    def wants(self, step: Step) -> bool:
        uses = step.uses
        return uses is not None and (
            (uses.owner_repo == CACHE and uses.path in ("", "restore", "save"))
            or uses.name == PRE_COMMIT
        )

    def check(self, job: Job, step: Step, row: SimulatedRow, context: Context) -> Iterator[Issue]:
        assert step.uses is not None
        if step.uses.name == PRE_COMMIT:
            yield from self._pre_commit(job, step, row, context)
            return
        cached = cached_key(step, row)
        if cached is None:
            return
        artefact, key = cached
        hazards = key_hazards(row, artefact)
        uncovered = [(i, c) for i, c in hazards if not covers(key.text, i, c, step, row)]
        if not uncovered:
            return
        what = (
            "names the requested Python version, not the build that runs"
            if mentions_request(key.text, uncovered)
            else "names no Python build"
        )
        yield key_issue(
            self.id,
            self.name,
            job,
            step,
            key,
            f"The key of this {artefact.value} {what}, so each new build of a pre-release "
            "restores wheels compiled against the previous one, whose ABI may differ (the "
            "wheel tag cannot tell them apart).",
            uncovered,
            hazards,
            row,
            context,
        )

    def _pre_commit(
        self, job: Job, step: Step, row: SimulatedRow, context: Context
    ) -> Iterator[Issue]:
        """pre-commit/action caches its environments under its own key."""
        key = "pre-commit-3|${{ env.pythonLocation }}"
        hazards = key_hazards(row, Artefact.PRE_COMMIT)
        uncovered = [(i, c) for i, c in hazards if not covers(key, i, c, step, row)]
        if not uncovered:
            return
        uses = step.node.scalar("uses")
        issue = key_issue(
            self.id,
            self.name,
            job,
            step,
            uses if uses is not None else step.node,
            "pre-commit/action keys its cache on env.pythonLocation, which no setup-python "
            "step sets for this interpreter, and nightly builds keep the same version_info, "
            "so pre-commit's own check does not rebuild its environments.",
            uncovered,
            hazards,
            row,
            context,
        )
        yield replace(
            issue,
            fixable=False,
            no_fix="pre-commit/action builds its cache key itself; cache ~/.cache/pre-commit "
            "with actions/cache keyed on a hash of python -VV instead",
        )

    def propose(self, issue: Issue, context: Context, alongside: Sequence[Issue]) -> Fix | None:
        return key_fix(issue, context, keyed_caches(alongside))

"""WW003: setup-python's own cache, where its key cannot tell builds apart."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from bot.engine.actions import SETUP_PYTHON, setup_python_cache
from bot.engine.expressions import render
from bot.engine.findings import Fix
from bot.engine.fixes import ref_fix
from bot.engine.issues import Issue
from bot.engine.rules.base import PINNED, Rule
from bot.engine.simulation import Context, Pair, SimulatedRow, describe_pythons
from bot.engine.workflow import Job, Step


class SetupPythonUnversionedCache(Rule):
    r"""actions/setup-python's own cache key cannot tell pre-release builds apart.

    `actions/setup-python` with `cache: pip` keys its cache on the exact installed version
    since v2.3.2, so it is normally safe. It is not at v2.3.0 and v2.3.1 (and the `main`
    commits between them), whose pip key holds no Python version; when `python-version` lists
    several versions (the key names only the last one); for PyPy `-nightly`, whose key holds
    the constant word `nightly`; and when a Python installed later in the job (a deadsnakes
    or pyenv build, one built from source) fills the same per-user pip cache. Upgrade the
    action, or give each pre-release its own setup-python step and cache.

    Unsafe:

    ```yaml
    - uses: actions/setup-python@v2.3.1
      with:
        python-version: "3.16-dev"
        cache: pip
    ```

    Fixed:

    ```yaml
    - uses: actions/setup-python@v2.3.4
      with:
        python-version: "3.16-dev"
        cache: pip
    ```
    """

    id = "WW003"
    name = "setup-python-unversioned-cache"
    fix_summary = "upgrade to v2.3.4 (tag refs)"

    def wants(self, step: Step) -> bool:
        uses = step.uses
        return uses is not None and uses.name == SETUP_PYTHON and step.input("cache") is not None

    def check(self, job: Job, step: Step, row: SimulatedRow, context: Context) -> Iterator[Issue]:
        uses = step.uses
        node = step.input("cache")
        assert uses is not None and node is not None
        kind = render(node.text, row.evaluators[step.index])
        if not isinstance(kind, str) or kind.strip().lower() not in ("pip", "pipenv", "poetry"):
            return
        behaviour = setup_python_cache(uses, context.resolution.as_of)
        if not behaviour.supported:
            return

        def issue(reason: str, pairs: list[Pair], no_fix: str, fixable: bool = False) -> Issue:
            pythons = tuple(describe_pythons(pairs, context))
            return Issue(
                self.id, self.name, job, step, node, reason, pythons, fixable=fixable, no_fix=no_fix
            )

        install = next((i for i in row.installs if i.step is step), None)
        if kind.strip().lower() == "pip" and not behaviour.pip_key_has_version:
            pairs = row.prereleases()
            if pairs:
                yield issue(
                    f"actions/setup-python@{uses.ref} (v2.3.0/v2.3.1) builds its pip cache key "
                    "with no Python version at all, so every Python of this job, pre-release "
                    "builds included, shares one pip cache.",
                    pairs,
                    PINNED,
                    fixable=not uses.is_sha,
                )
            return
        if install is None:
            return
        pre = [(install, c) for c in install.candidates if c.prerelease]
        if len(install.candidates) > 1 and pre:
            yield issue(
                "With several versions in python-version, setup-python's cache key names only "
                f"the last one ({install.candidates[-1].request}), while all of them build "
                "wheels into the shared cache.",
                pre,
                "each Python needs its own setup-python step to get its own key: a change to "
                "the job's structure left to you",
            )
        elif any(c.nightly for _, c in pre):
            yield issue(
                "For PyPy nightlies setup-python's cache key holds the constant word "
                "'nightly', so every nightly build shares one cache.",
                [p for p in pre if p[1].nightly],
                "setup-python's key cannot name a PyPy nightly build; cache with actions/cache "
                "keyed on a hash of python -VV instead",
            )
        elif kind.strip().lower() == "pip":
            # pip's cache directory is per user, not per interpreter: a Python installed
            # later (a deadsnakes or pyenv build, one built from source) fills the cache
            # that this key says belongs to setup-python's.
            later = [
                (i, c)
                for i, c in row.prereleases()
                if i.installer in ("deadsnakes", "build") and i.step.index > step.index
            ]
            if later:
                yield issue(
                    "setup-python's pip cache is keyed on the Python it installed, but a Python "
                    f"installed later by '{later[0][0].step.label}' builds wheels into the same "
                    "pip cache, and the key does not change with that Python's builds.",
                    later,
                    "the later Python needs a pip cache of its own (PIP_CACHE_DIR) with a key of "
                    "its own: a change left to you",
                )

    def propose(self, issue: Issue, context: Context, alongside: Sequence[Issue]) -> Fix | None:
        return ref_fix(
            issue,
            context,
            "v2.3.4",
            "Use actions/setup-python@v2.3.4, whose pip key holds the Python version",
        )

"""WW006: setup-uv keys its cache before the job's Python is there."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from bot.engine.actions import SETUP_UV, setup_uv_major
from bot.engine.findings import Fix
from bot.engine.fixes import move_below_setup, setup_uv_python_version
from bot.engine.interpreters import Install
from bot.engine.issues import Issue
from bot.engine.rules.base import Rule
from bot.engine.simulation import Context, SimulatedRow, describe_pythons, setup_uv_caches
from bot.engine.versions import Candidate
from bot.engine.workflow import Job, Step


class SetupUvBeforePython(Rule):
    r"""astral-sh/setup-uv caches before the job's Python is set up.

    Without a `python-version` input, `astral-sh/setup-uv` (v5 and later, where caching is on
    by default) keys its cache on the Python `uv python find` sees when the step runs, which
    neither reads `UV_PYTHON` nor downloads anything. Placed before `actions/setup-python`,
    that is the runner's default interpreter, the same for every row. A pre-release that uv
    fetches later (asked for by `UV_PYTHON` in the workflow, job or step `env`, a
    `.python-version` the workflow writes, `uv python pin`, `uv python install` or
    `--python`) is downloaded by `uv run`, `uv sync` or `uv venv` after the key was computed;
    a CPython built in the job reports the same version for every build. Either way the cache
    fills with wheels for a build its key does not name. (A `.python-version` in the
    repository cannot be read here: it counts as unknown.) Move setup-uv after setup-python;
    for one exact pre-release that uv fetches, give setup-uv that `python-version`; for a
    Python built in the job, key on a hash of `python -VV` through `cache-suffix`.

    Unsafe:

    ```yaml
    - uses: astral-sh/setup-uv@v7
    - uses: actions/setup-python@v6
      with:
        python-version: "3.16"
        allow-prereleases: true
    ```

    Fixed:

    ```yaml
    - uses: actions/setup-python@v6
      with:
        python-version: "3.16"
        allow-prereleases: true
    - uses: astral-sh/setup-uv@v7
    ```

    ### A pre-release uv fetches after setup-uv keyed its cache (UV_PYTHON, `.python-version`, `uv python pin`, `uv python install`, `--python`)

    Unsafe:

    ```yaml
    env:
      UV_PYTHON: 3.16.0a2  # or: run: uv python pin 3.16.0a2
    steps:
      - uses: astral-sh/setup-uv@v7  # keys on the runner's Python
      - run: uv sync  # downloads 3.16.0a2 now
    ```

    Fixed:

    ```yaml
    env:
      UV_PYTHON: 3.16.0a2
    steps:
      - uses: astral-sh/setup-uv@v7
        with:
          python-version: 3.16.0a2
      - run: uv sync
    ```

    ### A moving pre-release uv would fetch: let setup-python install it first

    Unsafe:

    ```yaml
    - uses: astral-sh/setup-uv@v7
    - run: uv sync --python 3.16
    ```

    Fixed:

    ```yaml
    - uses: actions/setup-python@v6
      with:
        python-version: "3.16"
        allow-prereleases: true
    - uses: astral-sh/setup-uv@v7
    - run: uv sync --python 3.16  # finds setup-python's build, downloads nothing
    ```

    ### A CPython built in the job

    Unsafe:

    ```yaml
    - uses: actions/checkout@v5
      with:
        repository: python/cpython
        path: cpython
    - run: cd cpython && ./configure --prefix="$HOME/py" && make -j4 install
    - run: echo "$HOME/py/bin" >> "$GITHUB_PATH"
    - uses: astral-sh/setup-uv@v7  # finds 3.16.0a2+, the same for every build
    ```

    Fixed:

    ```yaml
    - uses: actions/checkout@v5
      with:
        repository: python/cpython
        path: cpython
    - run: cd cpython && ./configure --prefix="$HOME/py" && make -j4 install
    - run: |
        echo "$HOME/py/bin" >> "$GITHUB_PATH"
        echo "PYTHON_BUILD=$("$HOME/py/bin/python3" -VV | sha256sum | cut -d' ' -f1)" >> "$GITHUB_ENV"
    - uses: astral-sh/setup-uv@v7
      with:
        cache-suffix: ${{ env.PYTHON_BUILD }}
    ```
    """

    id = "WW006"
    name = "setup-uv-before-python"
    fix_summary = (
        "move the setup-uv step below setup-python; give it `python-version` for one exact "
        "pre-release uv fetches"
    )

    def wants(self, step: Step) -> bool:
        return step.uses is not None and step.uses.name == SETUP_UV

    def check(self, job: Job, step: Step, row: SimulatedRow, context: Context) -> Iterator[Issue]:
        uses = step.uses
        assert uses is not None
        if step.input("python-version") is not None or setup_uv_major(uses) < 5:
            return
        if not setup_uv_caches(step, uses, row):
            return
        # UV_PYTHON does not count: ``uv python find``, which setup-uv asks for the key,
        # neither reads it nor downloads, so a pre-release uv fetches later goes unnamed.
        found = [i for i in row.installs if i.step.index < step.index and i.installer != "uv"]
        keyed = found[-1] if found else None
        missed = [(i, c) for i, c in row.prereleases() if not _keyed_by(keyed, i, c)]
        if not missed:
            return
        where = f"the Python from '{keyed.step.label}'" if keyed else "the runner's default Python"
        # One exact pre-release that uv fetches: setup-uv's python-version puts it in the key.
        pins = {c.request for i, c in missed if i.installer == "uv" and c.exact}
        only_uv = all(i.installer == "uv" for i, _ in missed)
        pin = pins.pop() if len(pins) == 1 and only_uv else None
        if keyed is not None and all(i is keyed for i, _ in missed):
            # A nightly or a build from source: the version it reports never changes.
            reason = (
                "setup-uv caches by default and keys the cache on the version of the Python it "
                f"finds ({where}), which is the same for every build of that Python, so each "
                "new build restores wheels compiled against the previous one; only a hash of "
                "python -VV (in cache-suffix) names the build."
            )
        else:
            reason = (
                "setup-uv caches by default and keys the cache on the Python it finds when it "
                f"runs ({where}), not on the Python this job installs later, so the pre-release "
                "builds share a uv cache keyed on another interpreter."
            )
        yield Issue(
            self.id,
            self.name,
            job,
            step,
            step.node.scalar("uses") or step.node,
            reason,
            tuple(describe_pythons(missed, context)),
            sources=frozenset(i.step.index for i, _ in missed),
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

    def propose(self, issue: Issue, context: Context, alongside: Sequence[Issue]) -> Fix | None:
        if issue.pin is not None:
            return setup_uv_python_version(issue, issue.pin, context)
        return move_below_setup(issue, context)


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

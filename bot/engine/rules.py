"""The rule catalogue: one place holds each rule's id, name, summary and documentation.

``docs/rules.md`` is generated from this module (``python -m bot.engine.rules``); a test
keeps the two in step.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

DOCS_URL = "https://github.com/wheelwatch/wheelwatch/blob/main/docs/rules.md"


@dataclass(frozen=True)
class Example:
    """A further pattern the rule finds, with an unsafe and a fixed snippet."""

    title: str
    unsafe: str
    fixed: str


@dataclass(frozen=True)
class Rule:
    id: str
    name: str
    summary: str
    explanation: str
    unsafe: str
    fixed: str
    examples: tuple[Example, ...] = ()

    @property
    def anchor(self) -> str:
        return f"{self.id.lower()}-{self.name}"

    @property
    def docs_url(self) -> str:
        return f"{DOCS_URL}#{self.anchor}"


_WHY = (
    "CPython may change its ABI between alphas, betas and release candidates of one minor "
    "version, yet every such build produces wheels with the same tag (`cp316`). pip and uv "
    "reuse a cached wheel whenever its tag matches, so a C extension built against one "
    "pre-release and restored under the next one loads against the wrong ABI and can crash "
    "the interpreter (urllib3's CI died with SIGSEGV this way on 3.11.0a3). The cache key is "
    "the only guard: it must name the exact interpreter build."
)

PRERELEASE_CACHE_KEY = Rule(
    id="WW001",
    name="prerelease-cache-key",
    summary="A Python package cache is keyed on the requested Python version, not the resolved one",
    explanation=(
        "An `actions/cache` step stores a pip, uv, Poetry or Pipenv cache, a virtualenv or a "
        "tox/nox tree, and its `key` does not contain the exact Python build, while the job can "
        "run a pre-release Python (`3.16-dev`, `3.16` with `allow-prereleases`, a deadsnakes "
        "nightly, ...). Every build of that pre-release then shares one cache. " + _WHY + " "
        "Key the cache on `steps.<setup-python id>.outputs.python-version` (for example "
        "`3.16.0-alpha.2`) or `env.pythonLocation`. A CPython built in the job (a checkout, "
        "clone or download of its source, `pyenv install 3.16-dev`) or installed from a "
        "nightly installer (deadsnakes, its nightly PPA) is a new build under one version "
        "number on every run: only a hash of its `python -VV` (build date and commit) names it."
    ),
    unsafe="""\
- uses: actions/setup-python@v6
  with:
    python-version: ${{ matrix.python-version }}  # includes "3.16-dev"
- uses: actions/cache@v5
  with:
    path: ~/.cache/pip
    key: ${{ runner.os }}-pip-${{ matrix.python-version }}-${{ hashFiles('requirements.txt') }}
""",
    fixed="""\
- uses: actions/setup-python@v6
  id: setup-python
  with:
    python-version: ${{ matrix.python-version }}
- uses: actions/cache@v5
  with:
    path: ~/.cache/pip
    key: ${{ runner.os }}-pip-${{ steps.setup-python.outputs.python-version }}-${{ hashFiles('requirements.txt') }}
""",
    examples=(
        Example(
            "A CPython built in the job, or from a nightly installer",
            # The fix wheelwatch offers when the built Python is ``python`` on PATH.
            """\
- run: pyenv install 3.16-dev && pyenv global 3.16-dev  # builds the branch head
- uses: actions/cache@v5
  with:
    path: ~/.cache/pip
    key: pip-${{ hashFiles('requirements.txt') }}
""",
            """\
- run: pyenv install 3.16-dev && pyenv global 3.16-dev
- name: Hash the Python build
  shell: bash
  run: echo "PYTHON_BUILD=$(python -VV | sha256sum | cut -d' ' -f1)" >> "$GITHUB_ENV"
- uses: actions/cache@v5
  with:
    path: ~/.cache/pip
    key: pip-${{ env.PYTHON_BUILD }}-${{ hashFiles('requirements.txt') }}
""",
        ),
    ),
)

PRERELEASE_RESTORE_KEY = Rule(
    id="WW002",
    name="prerelease-restore-key",
    summary="A restore-key drops the exact Python version and reopens the hazard",
    explanation=(
        "The primary `key` names the exact Python build, but a `restore-keys` prefix does not. "
        "On the first run after a new pre-release the exact key misses, and actions/cache then "
        "restores the newest cache whose key starts with the prefix: the one built by the "
        "previous pre-release. " + _WHY + " Put the same exact version into every restore-key, "
        "or drop the restore-keys."
    ),
    unsafe="""\
- uses: actions/cache@v5
  with:
    path: ~/.cache/pip
    key: pip-${{ steps.setup-python.outputs.python-version }}-${{ hashFiles('setup.py') }}
    restore-keys: |
      pip-
""",
    fixed="""\
- uses: actions/cache@v5
  with:
    path: ~/.cache/pip
    key: pip-${{ steps.setup-python.outputs.python-version }}-${{ hashFiles('setup.py') }}
    restore-keys: |
      pip-${{ steps.setup-python.outputs.python-version }}-
""",
)

SETUP_PYTHON_UNVERSIONED_CACHE = Rule(
    id="WW003",
    name="setup-python-unversioned-cache",
    summary="actions/setup-python's own cache key cannot tell pre-release builds apart",
    explanation=(
        "`actions/setup-python` with `cache: pip` keys its cache on the exact installed version "
        "since v2.3.2, so it is normally safe. It is not at v2.3.0 and v2.3.1 (and the `main` "
        "commits between them), whose pip key holds no Python version; when `python-version` "
        "lists several versions (the key names only the last one); for PyPy `-nightly`, "
        "whose key holds the constant word `nightly`; and when a Python installed later in the "
        "job (a deadsnakes build) fills the same per-user pip cache. " + _WHY + " Upgrade the "
        "action, or give each pre-release its own setup-python step and cache."
    ),
    unsafe="""\
- uses: actions/setup-python@v2.3.1
  with:
    python-version: "3.11-dev"
    cache: pip
""",
    fixed="""\
- uses: actions/setup-python@v2.3.4
  with:
    python-version: "3.11-dev"
    cache: pip
""",
)

SETUP_UV_REQUESTED_VERSION_KEY = Rule(
    id="WW004",
    name="setup-uv-requested-version-key",
    summary="astral-sh/setup-uv keys its cache on the requested Python version",
    explanation=(
        "When its `python-version` input is set, `astral-sh/setup-uv` puts that input string "
        "verbatim into the cache key, and uv quietly picks a pre-release for a minor version "
        "that has no final release yet. Every alpha and beta of that version then shares one uv "
        "cache. " + _WHY + " Pin the pre-release exactly, or set up Python first "
        "(actions/setup-python) and leave setup-uv's `python-version` unset so that it keys on "
        "the full version it finds."
    ),
    unsafe="""\
- uses: astral-sh/setup-uv@v7
  with:
    python-version: "3.16"
    enable-cache: true
""",
    fixed="""\
- uses: actions/setup-python@v6
  with:
    python-version: "3.16"
    allow-prereleases: true
- uses: astral-sh/setup-uv@v7
  with:
    enable-cache: true
""",
)

SETUP_UV_UNVERSIONED_CACHE = Rule(
    id="WW005",
    name="setup-uv-unversioned-cache",
    summary="astral-sh/setup-uv before v5 caches with no Python version in the key",
    explanation=(
        "Before v5.0.0, `astral-sh/setup-uv` built its cache key from the platform, the uv "
        "version and the dependency files only, so with `enable-cache: true` every Python of the "
        "job, pre-releases included, shares one uv cache of built wheels. " + _WHY + " Upgrade "
        "to setup-uv v5 or later, whose key holds the Python version."
    ),
    unsafe="""\
- uses: astral-sh/setup-uv@v3
  with:
    enable-cache: true
""",
    fixed="""\
- uses: astral-sh/setup-uv@v5
  with:
    enable-cache: true
""",
)

SETUP_UV_BEFORE_PYTHON = Rule(
    id="WW006",
    name="setup-uv-before-python",
    summary="astral-sh/setup-uv caches before the job's Python is set up",
    explanation=(
        "Without a `python-version` input, `astral-sh/setup-uv` (v5 and later, where caching is "
        "on by default) keys its cache on the Python `uv python find` sees when the step runs, "
        "which neither reads `UV_PYTHON` nor downloads anything. Placed before "
        "`actions/setup-python`, that is the runner's default interpreter, the same for every "
        "row. A pre-release that uv fetches later (asked for by `UV_PYTHON` in the workflow, "
        "job or step `env`, a `.python-version` the workflow writes, `uv python pin`, "
        "`uv python install` or `--python`) is downloaded by `uv run`, `uv sync` or `uv venv` "
        "after the key was computed; a CPython built in the job reports the same version for "
        "every build. Either way the cache fills with wheels for a build its key does not name. "
        "(A `.python-version` in the repository cannot be read here: it counts as unknown.) "
        + _WHY
        + " Move setup-uv after setup-python; for one exact pre-release that uv fetches, give "
        "setup-uv that `python-version`; for a Python built in the job, key on a hash of "
        "`python -VV` through `cache-suffix`."
    ),
    unsafe="""\
- uses: astral-sh/setup-uv@v7
- uses: actions/setup-python@v6
  with:
    python-version: "3.16"
    allow-prereleases: true
""",
    fixed="""\
- uses: actions/setup-python@v6
  with:
    python-version: "3.16"
    allow-prereleases: true
- uses: astral-sh/setup-uv@v7
""",
    examples=(
        Example(
            "A pre-release uv fetches after setup-uv keyed its cache (UV_PYTHON, "
            "`.python-version`, `uv python pin`, `uv python install`, `--python`)",
            """\
env:
  UV_PYTHON: 3.16.0a2  # or: run: uv python pin 3.16.0a2
steps:
  - uses: astral-sh/setup-uv@v7  # keys on the runner's Python
  - run: uv sync  # downloads 3.16.0a2 now
""",
            """\
env:
  UV_PYTHON: 3.16.0a2
steps:
  - uses: astral-sh/setup-uv@v7
    with:
      python-version: 3.16.0a2
  - run: uv sync
""",
        ),
        Example(
            "A moving pre-release uv would fetch: let setup-python install it first",
            """\
- uses: astral-sh/setup-uv@v7
- run: uv sync --python 3.16
""",
            """\
- uses: actions/setup-python@v6
  with:
    python-version: "3.16"
    allow-prereleases: true
- uses: astral-sh/setup-uv@v7
- run: uv sync --python 3.16  # finds setup-python's build, downloads nothing
""",
        ),
        Example(
            "A CPython built in the job",
            """\
- uses: actions/checkout@v5
  with:
    repository: python/cpython
    path: cpython
- run: cd cpython && ./configure --prefix="$HOME/py" && make -j4 install
- run: echo "$HOME/py/bin" >> "$GITHUB_PATH"
- uses: astral-sh/setup-uv@v7  # finds 3.16.0a2+, the same for every build
""",
            """\
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
""",
        ),
    ),
)

RULES: tuple[Rule, ...] = (
    PRERELEASE_CACHE_KEY,
    PRERELEASE_RESTORE_KEY,
    SETUP_PYTHON_UNVERSIONED_CACHE,
    SETUP_UV_REQUESTED_VERSION_KEY,
    SETUP_UV_UNVERSIONED_CACHE,
    SETUP_UV_BEFORE_PYTHON,
)
RULES_BY_ID = {rule.id: rule for rule in RULES}


def render_markdown() -> str:
    lines = [
        "# wheelwatch rules",
        "",
        "<!-- Generated by `python -m bot.engine.rules > docs/rules.md`; edit bot/engine/rules.py. -->",
        "",
        "Suppress a finding with `# wheelwatch: ignore[WW001]` on its line or anywhere in its "
        "step, or disable a rule in `.github/wheelwatch.yml`.",
        "",
    ]
    for rule in RULES:
        lines += [f'<a id="{rule.anchor}"></a>', f"## {rule.id} {rule.name}", ""]
        lines += [f"**{rule.summary}.**", "", rule.explanation, ""]
        lines += ["Unsafe:", "", "```yaml", rule.unsafe.rstrip(), "```", ""]
        lines += ["Fixed:", "", "```yaml", rule.fixed.rstrip(), "```", ""]
        for example in rule.examples:
            lines += [f"### {example.title}", ""]
            lines += ["Unsafe:", "", "```yaml", example.unsafe.rstrip(), "```", ""]
            lines += ["Fixed:", "", "```yaml", example.fixed.rstrip(), "```", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.stdout.write(render_markdown())

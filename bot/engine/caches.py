"""Which cached paths hold Python build artefacts, and which of those guard themselves."""

from __future__ import annotations

import re
from enum import Enum


class Artefact(Enum):
    PIP = "pip cache"
    UV = "uv cache"
    POETRY = "Poetry cache"
    PIPENV = "Pipenv virtualenvs"
    VENV = "virtualenv"
    NOX = "nox environments"
    TOX = "tox environments"
    PRE_COMMIT = "pre-commit environments"
    SITE_PACKAGES = "site-packages"
    PDM = "PDM cache"
    HOME_CACHE = "cache directory (pip's and uv's caches live in it)"

    @property
    def checks_interpreter(self) -> bool:
        """pre-commit and tox 4 rebuild an environment when ``sys.version_info`` changes,
        so only builds that keep the same version_info (nightlies) slip through."""
        return self in (Artefact.PRE_COMMIT, Artefact.TOX)


_PATTERNS: list[tuple[Artefact, re.Pattern[str]]] = [
    (Artefact.PRE_COMMIT, re.compile(r"(^|[/\\])\.?cache[/\\]pre-commit\b|pre-commit", re.I)),
    (
        Artefact.PIP,
        re.compile(
            r"(^|[/\\~])\.cache[/\\]pip\b|Caches[/\\]pip\b|pip[/\\]cache\b|\bpip-cache\b"
            r"|PIP_CACHE_DIR|pip_cache",
            re.I,
        ),
    ),
    (
        Artefact.UV,
        re.compile(r"(^|[/\\~])\.?cache[/\\]uv\b|uv[/\\]cache\b|UV_CACHE_DIR|\.uv-cache", re.I),
    ),
    (Artefact.POETRY, re.compile(r"pypoetry|POETRY_CACHE_DIR", re.I)),
    (Artefact.PDM, re.compile(r"(^|[/\\~])\.?cache[/\\]pdm\b|PDM_CACHE_DIR", re.I)),
    (Artefact.VENV, re.compile(r"share[/\\]hatch\b|[/\\]hatch[/\\]env\b|pipx[/\\]venvs\b", re.I)),
    (Artefact.HOME_CACHE, re.compile(r"^(~|\$HOME|\$\{\{\s*env\.HOME\s*\}\})[/\\]\.cache[/\\]?$")),
    (Artefact.PIPENV, re.compile(r"virtualenvs\b|WORKON_HOME", re.I)),
    (Artefact.NOX, re.compile(r"(^|[/\\\s])\.nox\b")),
    (Artefact.TOX, re.compile(r"(^|[/\\\s])\.tox\b")),
    (Artefact.VENV, re.compile(r"(^|[/\\\s~])\.?venv\b|(^|[/\\\s])env[/\\]?$|VIRTUAL_ENV", re.I)),
    (Artefact.SITE_PACKAGES, re.compile(r"site-packages|dist-packages|\.local[/\\]lib[/\\]python")),
]

# Commands whose output is a cache directory: ``echo "dir=$(pip cache dir)" >> $GITHUB_OUTPUT``.
_DIR_COMMANDS: list[tuple[Artefact, re.Pattern[str]]] = [
    (Artefact.PIP, re.compile(r"pip\s+cache\s+dir|pip3\s+cache\s+dir")),
    (Artefact.UV, re.compile(r"uv\s+cache\s+dir")),
    (Artefact.POETRY, re.compile(r"poetry\s+config\s+cache-dir")),
    (Artefact.PIPENV, re.compile(r"pipenv\s+--venv")),
]


def artefact_of_path(path: str) -> Artefact | None:
    """The kind of Python artefact a cache path (one per line) holds, if any; of several,
    one that does not check its interpreter, since that one decides the hazard."""
    found: list[Artefact] = []
    for line in path.splitlines():
        line = line.strip()
        if not line or line.startswith("!"):
            continue
        for artefact, pattern in _PATTERNS:
            if pattern.search(line):
                found.append(artefact)
                break
    found.sort(key=lambda artefact: artefact.checks_interpreter)
    return found[0] if found else None


def artefact_of_script(script: str) -> Artefact | None:
    """The kind of cache directory a ``run:`` script prints, if any."""
    for artefact, pattern in _DIR_COMMANDS:
        if pattern.search(script):
            return artefact
    return None

"""``uses:`` references and what a floating action tag meant on a given date."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class ActionRef:
    owner_repo: str  # lower-cased ``owner/repo``
    path: str  # sub-action path, '' for the repository root
    ref: str
    # Version named by a trailing ``# v1.2.3`` comment next to a SHA pin.
    comment_version: str | None = None

    @property
    def name(self) -> str:
        return f"{self.owner_repo}/{self.path}" if self.path else self.owner_repo

    @property
    def is_sha(self) -> bool:
        return bool(re.fullmatch(r"[0-9a-f]{40}", self.ref))

    @property
    def version(self) -> tuple[int, ...] | None:
        """The numeric version the ref (or its comment, for a SHA) names, if any."""
        text = self.comment_version if self.is_sha else self.ref
        if not text:
            return None
        match = re.fullmatch(r"v?(\d+)(?:\.(\d+))?(?:\.(\d+))?", text)
        if not match:
            return None
        return tuple(int(part) for part in match.groups() if part is not None)


def parse_uses(text: str, line_text: str = "") -> ActionRef | None:
    """Parse ``owner/repo[/path]@ref``; ``None`` for docker:// and this repository's own
    actions (``./path``, and ``$/path``, GitHub's self-repository syntax)."""
    text = text.strip()
    if text.startswith(("docker://", "./", ".\\", "$/")) or "@" not in text:
        return None
    target, _, ref = text.rpartition("@")
    parts = target.split("/")
    if len(parts) < 2:
        return None
    comment = re.search(r"#\s*(?:tag[:=]\s*)?(v?\d+(?:\.\d+){0,2})\b", line_text)
    return ActionRef(
        owner_repo=f"{parts[0]}/{parts[1]}".lower(),
        path="/".join(parts[2:]).lower(),
        ref=ref.strip(),
        comment_version=comment.group(1) if comment else None,
    )


SETUP_PYTHON = "actions/setup-python"
SETUP_UV = "astral-sh/setup-uv"
DEADSNAKES = "deadsnakes/action"
# Installs its comma-separated python-versions with setup-python and allow-prereleases.
NOX = "wntrblm/nox"
CACHE = "actions/cache"
CHECKOUT = "actions/checkout"
PRE_COMMIT = "pre-commit/action"

# setup-python's pip key held no Python version at v2.3.0 and v2.3.1, and at these main
# commits between the cache feature (280924fb) and the fix (ba33a692, PR #303).
_UNVERSIONED_PIP_SHAS = {
    "0066b88440aa9562be742e2c60ee750fc57d8849",
    "f38219332975fe8f9c04cca981d674bf22aea1d3",
    "280924fbefbb16de742b89e8dd82ba01b5769011",
    "3ef38b826b0d09ce746cd326f8cdfa37933f0d6d",
    "2b732b899cbe5450a374d0a499fbdab4870fed34",
    "6277dd125501d50af1010f7d669b6e76e24010b0",
    "fa17801fa7b21d8a60b97b134aa118b47787ccb5",
    "3a40ba0199391ec3b741a270f08a87419eb6f46f",
    "9a115684c962a94d8ecfff8c16e21656777b77ea",
    "156361d073e2d704ec0bfe646b4500cdc0547324",
}
_CACHE_INPUT_ADDED = date(2021, 11, 17)  # v2.3.0
_VERSIONED_PIP_KEY = date(2022, 2, 4)  # v2.3.2 tagged; merged to main 2022-01-31
_VERSIONED_PIP_KEY_ON_MAIN = date(2022, 1, 31)


@dataclass(frozen=True)
class SetupPythonCache:
    """What setup-python's ``cache:`` input does at a given ref and date."""

    supported: bool
    pip_key_has_version: bool


def setup_python_cache(ref: ActionRef, as_of: date) -> SetupPythonCache:
    if ref.is_sha:
        if ref.ref in _UNVERSIONED_PIP_SHAS:
            return SetupPythonCache(True, False)
        version = ref.version
        if version is None:
            return SetupPythonCache(True, True)
    else:
        version = ref.version
    if version is None:  # a branch such as main: what it held on that date
        if as_of < _CACHE_INPUT_ADDED:
            return SetupPythonCache(False, False)
        return SetupPythonCache(True, as_of >= _VERSIONED_PIP_KEY_ON_MAIN)
    if version[0] < 2:
        return SetupPythonCache(False, False)
    if version[0] > 2:
        return SetupPythonCache(True, True)
    if len(version) == 1 or (version[:2] == (2, 3) and len(version) == 2):
        # The floating v2 (or v2.3) tag moved through v2.3.0 and v2.3.1.
        if as_of < _CACHE_INPUT_ADDED:
            return SetupPythonCache(False, False)
        return SetupPythonCache(True, as_of >= _VERSIONED_PIP_KEY)
    if version[:2] < (2, 3):
        return SetupPythonCache(False, False)
    patch = version[2] if len(version) > 2 else 0
    return SetupPythonCache(True, patch >= 2)


# The newest major of setup-uv; a SHA pin without a version comment is taken to be recent.
SETUP_UV_LATEST_MAJOR = 10


def setup_uv_major(ref: ActionRef) -> int:
    version = ref.version
    return version[0] if version else SETUP_UV_LATEST_MAJOR

"""Which Python builds a version request can select, and whether they are pre-releases.

Whether a minor version is final is data (``data/cpython-releases.json``), answered for a
given date, so the engine can say whether a workflow was unsafe on the day it was written.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date
from enum import Enum
from pathlib import Path
from typing import Literal

# "build": a CPython built in the job (its source checked out or downloaded, pyenv).
Installer = Literal["setup-python", "uv", "deadsnakes", "docker", "nox", "build"]


class Kind(Enum):
    STABLE = "stable"
    PRERELEASE = "pre-release"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class ReleaseTable:
    """Final release date per minor version; ``None`` means not released."""

    finals: dict[str, date | None]
    expected: dict[str, date] = field(default_factory=dict)

    @classmethod
    def shipped(cls) -> ReleaseTable:
        """The table shipped with wheelwatch (``data/cpython-releases.json``). It reads a
        file: the CLI and the App call it and pass the table in; the engine never does."""
        return cls.parse(
            (Path(__file__).parent / "data" / "cpython-releases.json").read_text(encoding="utf-8")
        )

    @classmethod
    def parse(cls, text: str) -> ReleaseTable:
        """A table from the shipped file's JSON text."""
        raw = json.loads(text)
        finals: dict[str, date | None] = {}
        expected: dict[str, date] = {}
        for minor, entry in raw.items():
            if minor.startswith("_"):
                continue
            finals[minor] = date.fromisoformat(entry["final"]) if entry["final"] else None
            if entry.get("final_expected"):
                expected[minor] = date.fromisoformat(entry["final_expected"])
        return cls(finals, expected)

    def overridden(self, released: dict[str, date | None]) -> ReleaseTable:
        """The table with these minors' final dates (``None``: not released) set for sure."""
        expected = {m: d for m, d in self.expected.items() if m not in released}
        return ReleaseTable({**self.finals, **released}, expected)

    def with_manifest(self, manifest: list[dict[str, object]], today: date) -> ReleaseTable:
        """Mark minors final that actions/python-versions lists a stable ``X.Y.0`` for."""
        finals = dict(self.finals)
        for entry in manifest:
            match = re.fullmatch(r"(\d+)\.(\d+)\.0", str(entry.get("version", "")))
            if match and entry.get("stable") is True:
                minor = f"{match[1]}.{match[2]}"
                if finals.get(minor) is None:
                    finals[minor] = today
        return ReleaseTable(finals, self.expected)

    def is_final(self, minor: str, as_of: date) -> bool:
        if minor in self.finals:
            final = self.finals[minor]
            if final is None:
                # A schedule's planned final date stands in until the table is refreshed:
                # flagging a released version for ever would be the worse mistake.
                final = self.expected.get(minor)
            return final is not None and final <= as_of
        major, _, number = minor.partition(".")
        if major != "3" or not number.isdigit():
            return True  # Python 2 and the like: long final.
        known = [int(m.split(".")[1]) for m in self.finals if m.startswith("3.")]
        # Older than the table cannot happen; newer is not released yet.
        return int(number) < min(known, default=0)


@dataclass(frozen=True)
class Candidate:
    """One Python a job may run: the request as written and what it resolves to."""

    request: str
    kind: Kind
    # The request names one build, so a key holding the request string is exact.
    exact: bool = False
    # Builds change under one unchanged version number (deadsnakes -dev, PyPy nightlies).
    nightly: bool = False
    minor: str | None = None

    @property
    def prerelease(self) -> bool:
        return self.kind is Kind.PRERELEASE


_PRE_TAG = re.compile(r"^(\d+)\.(\d+)\.(\d+)(?:-?(?:alpha|beta|rc|a|b|c|dev)\.?\d*)$", re.I)
_EXACT = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")
_MINOR = re.compile(r"^(\d+)\.(\d+)$")
_DEV = re.compile(r"^(\d+)\.(\d+)-dev$")


def classify(
    request: str,
    *,
    installer: Installer,
    as_of: date,
    releases: ReleaseTable,
    allow_prereleases: bool = False,
) -> Candidate | None:
    """Classify one version request; ``None`` when it selects no Python at all."""
    text = request.strip().strip("\"'")
    if not text:
        return None
    if "${{" in text:
        return Candidate(text, Kind.UNKNOWN)
    lowered = text.lower()
    if lowered.startswith(("pypy", "graalpy")):
        return _classify_alternative(text, lowered, allow_prereleases)
    if installer == "uv":
        lowered = re.sub(r"^(cpython|python)[-@]?", "", lowered)
        lowered = re.sub(r"[+-](freethreaded|gil)$", "t", lowered)
    # A free-threaded build (3.16t) is a pre-release exactly when its minor is.
    base = _strip_freethreaded(lowered)
    if installer == "docker":
        # Official python images: ``3.16-rc`` moves from one pre-release to the next.
        match = re.fullmatch(r"(\d+)\.(\d+)-rc", base)
        if match:
            minor = f"{match[1]}.{match[2]}"
            final = releases.is_final(minor, as_of)
            return Candidate(text, Kind.STABLE if final else Kind.PRERELEASE, minor=minor)
    if installer == "deadsnakes" and base.endswith("-dev"):
        minor = base.removesuffix("-dev")
        if not _MINOR.match(minor):
            return Candidate(text, Kind.UNKNOWN)
        if releases.is_final(minor, as_of):
            return Candidate(text, Kind.STABLE, minor=minor)
        return Candidate(text, Kind.PRERELEASE, nightly=True, minor=minor)
    match = _DEV.match(base)
    if match:
        minor = f"{match[1]}.{match[2]}"
        final = releases.is_final(minor, as_of)
        return Candidate(text, Kind.STABLE if final else Kind.PRERELEASE, minor=minor)
    match = _PRE_TAG.match(base)
    if match:
        return Candidate(text, Kind.PRERELEASE, exact=True, minor=f"{match[1]}.{match[2]}")
    match = _EXACT.match(base)
    if match:
        return Candidate(text, Kind.STABLE, exact=True, minor=f"{match[1]}.{match[2]}")
    match = _MINOR.match(base)
    if match:
        minor = f"{match[1]}.{match[2]}"
        if releases.is_final(minor, as_of):
            return Candidate(text, Kind.STABLE, minor=minor)
        if installer == "setup-python" and not allow_prereleases:
            return None  # setup-python fails: no final release matches a bare X.Y.
        return Candidate(text, Kind.PRERELEASE, minor=minor)
    if " - " in base:
        low, _, high = base.partition(" - ")
        if any(re.search(r"\d-?(alpha|beta|rc|a|b)", side) for side in (low, high)):
            match = re.match(r"(\d+)\.(\d+)", low.strip())
            if match:
                minor = f"{match[1]}.{match[2]}"
                final = releases.is_final(minor, as_of)
                return Candidate(text, Kind.STABLE if final else Kind.PRERELEASE, minor=minor)
            return Candidate(text, Kind.UNKNOWN)
        return Candidate(text, Kind.STABLE)
    if re.fullmatch(r"[\d.x*]+|[<>=~^!][\s\S]*", base):
        # Ranges and wildcards (3.x, >=3.9) never select a pre-release in node-semver
        # unless a comparator carries a pre-release tag itself.
        if re.search(r"\d-(alpha|beta|rc)", base):
            return Candidate(text, Kind.UNKNOWN)
        return Candidate(text, Kind.STABLE)
    return Candidate(text, Kind.UNKNOWN)


_IMAGE_VARIANT = re.compile(
    r"-(slim|alpine|bookworm|bullseye|buster|trixie|windowsservercore|nanoserver)\b.*$"
)


def python_image_tag(image: str) -> str | None:
    """The version part of an official ``python:`` image, e.g. ``3.16-rc`` from
    ``python:3.16-rc-slim-bookworm``; ``None`` for any other image."""
    match = re.fullmatch(r"(?:docker\.io/)?(?:library/)?python:([^@\s]+)(?:@\S+)?", image.strip())
    if match is None:
        return None
    return _IMAGE_VARIANT.sub("", match[1])


def _strip_freethreaded(text: str) -> str:
    match = re.match(r"^(\d+\.\d+(?:\.\d+)?)t(.*)$", text)
    return match[1] + match[2] if match else text


def _classify_alternative(text: str, lowered: str, allow_prereleases: bool) -> Candidate:
    if lowered.endswith("-nightly"):
        return Candidate(text, Kind.PRERELEASE, nightly=True)
    if re.search(r"\d(rc|a|b)\d|-ea", lowered):
        return Candidate(text, Kind.PRERELEASE, exact=True)
    return Candidate(text, Kind.STABLE)


def describe(candidate: Candidate, releases: ReleaseTable, as_of: date) -> str:
    """A short phrase for messages: ``3.16-dev (alpha/beta builds until 3.16.0)``."""
    if candidate.nightly:
        return f"{candidate.request} (nightly builds under one version number)"
    if candidate.exact:
        return candidate.request
    minor = candidate.minor
    if minor and not releases.is_final(minor, as_of):
        final = releases.finals.get(minor)
        if final is not None:
            when = f" on {final.isoformat()}"
        elif minor in releases.expected:
            when = f", expected {releases.expected[minor].isoformat()}"
        else:
            when = ""
        return f"{candidate.request} (pre-release builds until {minor}.0 final{when})"
    return candidate.request

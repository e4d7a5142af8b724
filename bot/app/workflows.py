"""Workflow files as the App sees them, the trusted configuration, and the engine called on
one file."""

from __future__ import annotations

import base64
import binascii
import logging
import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

import gidgethub
from gidgethub.abc import GitHubAPI

from bot.app.diff import Hunk
from bot.app.process_pool import AnalysisTimeout, Offload
from bot.engine import (
    Analysis,
    Config,
    FileError,
    analyse,
)
from bot.engine.expressions import Value
from bot.engine.versions import ReleaseTable
from bot.settings import CONFIG_PATH, ConfigError, RepoSettings, parse_settings

log = logging.getLogger(__name__)

CONTENTS_URL = "/repos/{owner}/{repo}/contents/{+path}{?ref}"


def is_workflow_path(path: str) -> bool:
    """A workflow (``.github/workflows/*.yml``) or an action definition (``action.yml``)."""
    directory, name = posixpath.split(path)
    if directory == ".github/workflows" and name.endswith((".yml", ".yaml")):
        return True
    return name in ("action.yml", "action.yaml")


@dataclass(frozen=True)
class Repository:
    owner: str
    name: str

    @classmethod
    def from_full_name(cls, full_name: str) -> Repository:
        owner, _, name = full_name.partition("/")
        if not owner or not name:
            raise ValueError(f"not a repository full name: {full_name!r}")
        return cls(owner, name)

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"

    def url_vars(self, **extra: str | int) -> dict[str, str | int]:
        return {"owner": self.owner, "repo": self.name, **extra}


@dataclass(frozen=True)
class WorkflowFile:
    """One analysed file. ``hunks`` is ``None`` outside a pull request (no diff to anchor on)."""

    path: str
    text: str
    analysis: Analysis
    hunks: tuple[Hunk, ...] | None = None


@dataclass(frozen=True)
class RepoConfig:
    config: RepoSettings
    # Set when .github/wheelwatch.yml is invalid: the defaults apply and the check run says so.
    error: str | None = None
    # Set when the pull request under review changes the file (its change does not apply).
    changed_by_pull_request: bool = False

    def notice(self) -> str | None:
        """What the review and the check run say about a configuration change they ignore."""
        if not self.changed_by_pull_request:
            return None
        return (
            f"This pull request changes `{CONFIG_PATH}`. It was judged by the configuration "
            "of its base branch: a pull request cannot change how it is itself checked. "
            "The change applies once it is merged."
        )


def config_ref(repository: dict[str, Any], branch: str, sha: str) -> str:
    """Where to read the configuration that judges ``sha``, a commit on ``branch``.

    A commit on the default branch is judged by its own configuration; a commit on any other
    branch by the default branch's, so that no branch can switch its own check off.
    """
    default = repository.get("default_branch")
    return sha if not default or branch == default else str(default)


async def read_text(gh: GitHubAPI, repo: Repository, path: str, ref: str) -> str | FileError | None:
    """A file's text at ``ref``; ``None`` if absent, a ``FileError`` if it cannot be reviewed."""
    try:
        data = await gh.getitem(CONTENTS_URL, repo.url_vars(path=path, ref=ref))
    except gidgethub.BadRequest as exc:
        if exc.status_code == 404:
            return None
        raise
    if not isinstance(data, dict | list):
        # A 200 whose body is not JSON (an HTML page from a proxy or a login wall): the file
        # exists or not, nobody knows, so it is not "absent, nothing to report".
        return FileError("GitHub's answer was not the file's contents (not JSON); not read")
    if not isinstance(data, dict) or data.get("type") != "file":
        return None
    if data.get("encoding") != "base64":
        # The contents API leaves out the content of files over 1 MB.
        return FileError("the file is too large to review (over 1 MB)")
    try:
        raw = base64.b64decode(str(data.get("content", "")))
    except (binascii.Error, ValueError):
        return FileError("GitHub returned content that is not valid base64")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return FileError(f"the file is not valid UTF-8 (byte {exc.start})")


async def read_repo_config(
    gh: GitHubAPI,
    repo: Repository,
    ref: str,
    *,
    offload: Offload,
    changed_by_pull_request: bool = False,
) -> RepoConfig:
    """``.github/wheelwatch.yml`` at ``ref``, or the defaults."""
    config = await _read_repo_config(gh, repo, ref, offload)
    return replace(config, changed_by_pull_request=changed_by_pull_request)


async def _read_repo_config(
    gh: GitHubAPI, repo: Repository, ref: str, offload: Offload
) -> RepoConfig:
    text = await read_text(gh, repo, CONFIG_PATH, ref)
    if text is None:
        return RepoConfig(RepoSettings())
    if isinstance(text, FileError):
        return RepoConfig(RepoSettings(), f"{CONFIG_PATH}: {text.message}")
    return await offload_config(text, offload)


async def offload_config(text: str, offload: Offload) -> RepoConfig:
    """Parsed in a worker process: a 0.9 MB file took 2.2 s on the event loop."""
    try:
        return await offload.run(parse_repo_config, text)
    except AnalysisTimeout:
        return RepoConfig(RepoSettings(), f"{CONFIG_PATH} took too long to read")


def parse_repo_config(text: str) -> RepoConfig:
    """``.github/wheelwatch.yml``'s settings, or the defaults and why they apply."""
    try:
        return RepoConfig(parse_settings(text))
    except ConfigError as exc:
        return RepoConfig(RepoSettings(), exc.located(CONFIG_PATH))


def run_engine(
    text: str,
    config: Config,
    *,
    releases: ReleaseTable,
    as_of: date,
    inputs: Sequence[Mapping[str, Value]] = (),
) -> Analysis:
    try:
        return analyse(text, config=config, releases=releases, as_of=as_of, inputs=inputs)
    except Exception as exc:
        # The engine promises errors as values; if it breaks that promise, report, don't crash.
        log.exception("engine failed")
        return Analysis(error=FileError(f"wheelwatch could not analyse this file ({exc!r})"))

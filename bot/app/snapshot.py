"""A commit's whole set of workflow files, read through its tree and analysed together.

One recursive tree call lists every workflow, local action and the configuration with their
blob SHAs; a blob is read only when the content cache has not seen its SHA, and a file is
analysed only when no analysis with the same inputs is cached (:mod:`bot.app.analysis_cache`).
Reusable workflows and local composite actions get the inputs their callers in the same
commit pass, as ``wheelwatch check`` does for local files.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date

from gidgethub.abc import GitHubAPI

from bot.app.analysis_cache import (
    AnalysisCache,
    Text,
    analysis_key,
    analysis_size,
    digest,
    text_size,
)
from bot.app.process_pool import AnalysisProcessDied, AnalysisTimeout, Offload
from bot.app.release_tables import Releases, ReleaseTables
from bot.app.workflows import (
    RepoConfig,
    Repository,
    WorkflowFile,
    is_workflow_path,
    offload_config,
    run_engine,
)
from bot.engine import Analysis, FileError
from bot.engine.calls import Inputs, local_calls, may_call_local
from bot.settings import CONFIG_PATH, RepoSettings

log = logging.getLogger(__name__)

TREE_URL = "/repos/{owner}/{repo}/git/trees/{tree_sha}{?recursive}"
BLOB_URL = "/repos/{owner}/{repo}/git/blobs/{file_sha}"
# The CLI's limit: larger files are reported, not read.
MAX_FILE_BYTES = 1024 * 1024


@dataclass(frozen=True)
class TreeEntry:
    path: str
    sha: str
    mode: str = "100644"
    size: int | None = None


@dataclass(frozen=True)
class Tree:
    """The entries of a commit's tree that wheelwatch reads: workflows, actions, the config."""

    sha: str
    entries: dict[str, TreeEntry]
    truncated: bool = False

    @property
    def workflows(self) -> list[TreeEntry]:
        return [entry for path, entry in sorted(self.entries.items()) if is_workflow_path(path)]

    @property
    def config(self) -> TreeEntry | None:
        return self.entries.get(CONFIG_PATH)


async def read_tree(gh: GitHubAPI, repo: Repository, commit_sha: str) -> Tree:
    """One call: ``GET …/git/trees/{commit}?recursive=1``."""
    data = await gh.getitem(TREE_URL, repo.url_vars(tree_sha=commit_sha, recursive=1))
    entries: dict[str, TreeEntry] = {}
    for item in data.get("tree") or []:
        path = str(item.get("path", ""))
        if item.get("type") != "blob" or not (is_workflow_path(path) or path == CONFIG_PATH):
            continue
        size = item.get("size")
        entries[path] = TreeEntry(
            path, str(item["sha"]), str(item.get("mode", "100644")), int(size) if size else None
        )
    truncated = bool(data.get("truncated"))
    if truncated:
        # GitHub lists at most 100,000 entries; what is listed is still analysed.
        log.warning("%s@%s: the tree is truncated; some files are not listed", repo, commit_sha)
    return Tree(str(data.get("sha", commit_sha)), entries, truncated)


@dataclass(frozen=True)
class Snapshot:
    """A commit's workflow files, each analysed with its callers' inputs."""

    sha: str
    tree: Tree
    files: list[WorkflowFile]
    repo_config: RepoConfig
    releases: Releases
    as_of: date
    inputs: dict[str, list[Inputs]] = field(default_factory=dict)

    def file(self, path: str) -> WorkflowFile | None:
        return next((file for file in self.files if file.path == path), None)


class Analyser:
    """Reads and analyses commits through the content cache; one per App process."""

    def __init__(
        self,
        cache: AnalysisCache,
        *,
        today: Callable[[], date],
        releases: ReleaseTables | None = None,
    ) -> None:
        self.cache = cache
        self.releases = releases or ReleaseTables()
        # The App's clock (AppConfig.today), read once per commit: the engine, the release
        # table's refresh and the analysis cache's key must all see the same day.
        self.today = today
        self.blob_reads = 0
        self.analyses = 0

    async def text(self, gh: GitHubAPI, repo: Repository, entry: TreeEntry) -> Text:
        cached = await self.cache.texts.get(f"blob:{entry.sha}")
        if cached is not None:
            return cached
        text, lasting = await self._read_blob(gh, repo, entry)
        if lasting:
            await self.cache.texts.put(f"blob:{entry.sha}", text, text_size(text))
        return text

    async def _read_blob(
        self, gh: GitHubAPI, repo: Repository, entry: TreeEntry
    ) -> tuple[Text, bool]:
        """The blob's text, and whether the answer holds for ever (it names the content)."""
        if entry.size is not None and entry.size > MAX_FILE_BYTES:
            return FileError("the file is too large to review (over 1 MB)"), True
        self.blob_reads += 1
        data = await gh.getitem(BLOB_URL, repo.url_vars(file_sha=entry.sha))
        if not isinstance(data, dict):
            # A 200 whose body is not JSON (an HTML page from a proxy or a login wall): say so,
            # and do not remember it, since the next read may well succeed.
            return FileError(
                "GitHub's answer was not the file's contents (not JSON); not read"
            ), False
        try:
            raw = base64.b64decode(str(data.get("content", "")))
        except (binascii.Error, ValueError):
            return FileError("GitHub returned content that is not valid base64"), False
        if len(raw) > MAX_FILE_BYTES:
            return FileError("the file is too large to review (over 1 MB)"), True
        try:
            return raw.decode("utf-8"), True
        except UnicodeDecodeError as exc:
            return FileError(f"the file is not valid UTF-8 (byte {exc.start})"), True

    async def repo_config(
        self, gh: GitHubAPI, repo: Repository, tree: Tree, offload: Offload
    ) -> RepoConfig:
        """``.github/wheelwatch.yml`` as the tree holds it (read once per content)."""
        entry = tree.config
        if entry is None:
            return RepoConfig(RepoSettings())
        text = await self.text(gh, repo, entry)
        if isinstance(text, FileError):
            return RepoConfig(RepoSettings(), f"{CONFIG_PATH}: {text.message}")
        return await offload_config(text, offload)

    async def snapshot(
        self,
        gh: GitHubAPI,
        repo: Repository,
        sha: str,
        *,
        tree: Tree | None = None,
        repo_config: RepoConfig | None = None,
        offload: Offload | None = None,
    ) -> Snapshot:
        """Every workflow file and local action of commit ``sha``, analysed (in ``offload``'s
        worker processes: a file whose turn comes after the delivery's analysis time ran out
        is reported as not analysed)."""
        offload = offload or Offload(None, float("inf"))
        tree = tree or await read_tree(gh, repo, sha)
        if repo_config is None:
            repo_config = await self.repo_config(gh, repo, tree, offload)
        config = repo_config.config
        as_of = self.today()
        releases = await self.releases.current(gh, as_of)
        entries = [e for e in tree.workflows if not config.ignores_path(e.path)]
        texts = {entry.path: await self.text(gh, repo, entry) for entry in entries}
        readable = {path: text for path, text in texts.items() if isinstance(text, str)}
        inputs: dict[str, list[Inputs]] = {}
        # Parses every file that calls a local one: CPU, so not on the event loop; but most
        # commits call nothing local, and then no process round trip is needed.
        if any(may_call_local(text) for text in readable.values()):
            with contextlib.suppress(AnalysisTimeout):
                inputs = await offload.run(caller_inputs, readable, set(tree.entries))
        config_digest = digest(config.engine)  # what the analyses depend on
        files: list[WorkflowFile] = []
        missing: list[tuple[int, str, str, str]] = []  # (index, key, path, text)
        for entry in entries:
            text = texts[entry.path]
            if isinstance(text, FileError):
                files.append(WorkflowFile(entry.path, "", Analysis(error=text)))
                continue
            key = analysis_key(
                entry.sha,
                config_digest=config_digest,
                table_digest=releases.digest,
                as_of=as_of,
                inputs=inputs.get(entry.path, []),
            )
            cached = await self.cache.analyses.get(key)
            if cached is None:
                missing.append((len(files), key, entry.path, text))
                cached = Analysis()  # replaced below
            files.append(WorkflowFile(entry.path, text, cached))
        for index, key, path, text in missing:
            try:
                analysis = await offload.run(
                    run_engine,
                    text,
                    config.engine,
                    releases=releases.table,
                    as_of=as_of,
                    inputs=inputs.get(path, []),
                )
            except AnalysisTimeout:
                # Not cached: with time, the same file may well be analysed.
                files[index] = WorkflowFile(path, text, Analysis(error=out_of_time(offload)))
                continue
            except AnalysisProcessDied as died:
                # Not cached either: the processes may have been killed for another's sake.
                error = FileError(
                    "wheelwatch could not analyse this file: two processes ended while"
                    f" analysing it, the second {died.how}"
                )
                files[index] = WorkflowFile(path, text, Analysis(error=error))
                continue
            self.analyses += 1
            files[index] = WorkflowFile(path, text, analysis)
            await self.cache.analyses.put(key, analysis, analysis_size(analysis))
        return Snapshot(sha, tree, files, repo_config, releases, as_of, inputs)


def out_of_time(offload: Offload) -> FileError:
    return FileError(
        f"wheelwatch stopped analysing: this delivery used its {offload.seconds:.0f} s "
        "of analysis time"
    )


def caller_inputs(texts: dict[str, str], paths: set[str]) -> dict[str, list[Inputs]]:
    """What each file's callers in the same commit pass to it, by the called file's path."""
    found: dict[str, list[Inputs]] = {}
    for text in texts.values():
        for call in local_calls(text):
            target = resolve_target(call.path, paths)
            if target is None:
                continue
            known = found.setdefault(target, [])
            known.extend(inputs for inputs in call.inputs if inputs not in known)
    return found


def resolve_target(path: str, paths: set[str] | Sequence[str]) -> str | None:
    """A call's path (``.github/workflows/x.yml``, ``actions/setup``, ``.`` for the root's
    action) as a file in the tree."""
    if path.startswith(".."):
        return None
    directory = "" if path == "." else f"{path}/"
    for candidate in (path, f"{directory}action.yml", f"{directory}action.yaml"):
        if candidate in paths:
            return candidate
    return None

"""Posting the ``wheelwatch`` check run: created in progress, completed with annotations."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gidgethub.abc import GitHubAPI

from bot.app import check_output
from bot.app.workflows import (
    RepoConfig,
    Repository,
    WorkflowFile,
    analyse_files,
    read_repo_config,
)

log = logging.getLogger(__name__)

CHECK_RUNS_URL = "/repos/{owner}/{repo}/check-runs"
CHECK_RUN_URL = "/repos/{owner}/{repo}/check-runs/{check_run_id}"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class CheckRun:
    gh: GitHubAPI
    repo: Repository
    id: int
    completed: bool = False

    @classmethod
    async def start(cls, gh: GitHubAPI, repo: Repository, head_sha: str) -> CheckRun:
        data = await gh.post(
            CHECK_RUNS_URL,
            repo.url_vars(),
            data={
                "name": check_output.CHECK_NAME,
                "head_sha": head_sha,
                "status": "in_progress",
                "started_at": _now(),
            },
        )
        return cls(gh, repo, int(data["id"]))

    async def complete(self, files: list[WorkflowFile], repo_config: RepoConfig) -> None:
        """Publish the result; annotations go 50 per request, the last request completes."""
        output = check_output.output(files, config_error=repo_config.error)
        notes = check_output.annotations_for(files)
        size = check_output.ANNOTATIONS_PER_REQUEST
        batches = [notes[i : i + size] for i in range(0, len(notes), size)] or [[]]
        for batch in batches[:-1]:
            await self._update({"output": {**output, "annotations": batch}})
        final: dict[str, Any] = {
            "status": "completed",
            "conclusion": check_output.conclusion(files, repo_config.config),
            "completed_at": _now(),
            "output": {**output, "annotations": batches[-1]} if batches[-1] else output,
        }
        await self._update(final)
        self.completed = True

    async def abandon(self, reason: str) -> None:
        """Best effort: do not leave the check spinning when the work failed."""
        if self.completed:
            return
        try:
            await self._update(
                {
                    "status": "completed",
                    "conclusion": "neutral",
                    "completed_at": _now(),
                    "output": {"title": "wheelwatch could not finish", "summary": reason},
                }
            )
            self.completed = True
        except Exception:
            log.exception("could not close check run %d", self.id)

    async def _update(self, data: dict[str, Any]) -> None:
        await self.gh.patch(CHECK_RUN_URL, self.repo.url_vars(check_run_id=self.id), data=data)


async def check_commit(
    gh: GitHubAPI, repo: Repository, sha: str, paths: set[str], *, source: Repository | None = None
) -> list[WorkflowFile]:
    """Analyse ``paths`` at ``sha`` (read from ``source``) and report them in a check run."""
    source = source or repo
    repo_config = await read_repo_config(gh, source, sha)
    check = await CheckRun.start(gh, repo, sha)
    try:
        files = await analyse_files(gh, source, sha, paths, repo_config.config)
        await check.complete(files, repo_config)
    except BaseException:
        await check.abandon("An error interrupted the analysis; re-run the check to retry.")
        raise
    return files

"""Posting the ``wheelwatch`` check run: created in progress, completed with annotations."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gidgethub.abc import GitHubAPI

from bot.app import check_output
from bot.app.delivery import DeliveryContext, LeaseLost
from bot.app.fix_pull_request import FIX_ACTION, fixable, try_fix_pull_request
from bot.app.process_pool import AnalysisTimeout, Offload, Superseded
from bot.app.snapshot import Analyser, Snapshot, read_tree
from bot.app.workflows import RepoConfig, Repository, read_repo_config
from bot.app.writes import write_once

log = logging.getLogger(__name__)

# Tries to close a check run as "could not finish" after the work failed.
CLOSE_ATTEMPTS = 3

CHECK_RUNS_URL = "/repos/{owner}/{repo}/check-runs"
CHECK_RUN_URL = "/repos/{owner}/{repo}/check-runs/{check_run_id}"
COMMIT_CHECK_RUNS_URL = (
    "/repos/{owner}/{repo}/commits/{ref}/check-runs{?check_name,filter,per_page}"
)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class CheckRun:
    gh: GitHubAPI
    repo: Repository
    id: int
    delivery_id: str
    completed: bool = False
    # Annotations GitHub holds for this run: each update that adds some is checked against
    # this count when its answer is lost, so that no batch is stored twice.
    annotations: int = 0

    @classmethod
    async def start(
        cls,
        gh: GitHubAPI,
        repo: Repository,
        head_sha: str,
        *,
        delivery: DeliveryContext | None = None,
    ) -> CheckRun:
        # Names this run among the commit's, should the answer to its creation be lost, or
        # the delivery's first try be killed after creating it.
        external_id = delivery.delivery_id if delivery is not None else uuid.uuid4().hex
        delivery_id = delivery.delivery_id if delivery is not None else "(none)"
        request = {
            "name": check_output.CHECK_NAME,
            "head_sha": head_sha,
            "external_id": external_id,
            "status": "in_progress",
            "started_at": _now(),
        }

        async def create() -> int:
            data = await gh.post(CHECK_RUNS_URL, repo.url_vars(), data=request)
            return int(data["id"])

        async def newest() -> dict[str, Any] | None:
            url_vars = repo.url_vars(
                ref=head_sha, check_name=check_output.CHECK_NAME, filter="all", per_page=100
            )
            found = [
                run
                async for run in gh.getiter(
                    COMMIT_CHECK_RUNS_URL, url_vars, iterable_key="check_runs"
                )
                if run.get("external_id") == external_id
            ]
            # The newest: a redelivery of a failed delivery reuses its id.
            return max(found, key=lambda run: int(run["id"]), default=None)

        async def find() -> int | None:
            run = await newest()
            return None if run is None else int(run["id"])

        if delivery is not None and delivery.attempt > 1:
            earlier = await newest()
            if earlier is not None:
                log.info(
                    "check run %d on %s: created by an interrupted try", earlier["id"], head_sha
                )
                # GitHub appends each update's annotations: those the earlier try stored stay,
                # and complete() sends only the rest.
                stored = int((earlier.get("output") or {}).get("annotations_count") or 0)
                return cls(gh, repo, int(earlier["id"]), delivery_id, annotations=stored)
        check_run_id = await write_once(create, find, what=f"check run on {head_sha}")
        return cls(gh, repo, check_run_id, delivery_id)

    async def complete(
        self, snapshot: Snapshot, offload: Offload, *, fix_note: str | None = None
    ) -> None:
        """Publish the result; annotations go 50 per request, the last request completes.

        A run with a proven fix offers the "Fix" button; ``fix_note`` says what became of
        the fix pull request when one was opened without it."""
        files, repo_config = snapshot.files, snapshot.repo_config
        # One diff per finding: a worker process's job, not the event loop's.
        output, notes = await offload.render(
            check_output.render, files, repo_config, snapshot.releases.label
        )
        if fix_note is not None:
            output["summary"] = check_output.with_fix_note(output["summary"], fix_note)
        # An interrupted try of this delivery stored the first ones (the same commit, config and
        # day give the same annotations, in the same order).
        notes = notes[self.annotations :]
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
        if fixable(snapshot):
            final["actions"] = [FIX_ACTION]
        await self._update(final)
        self.completed = True

    async def abandon(self, failure: BaseException) -> None:
        """Close the run as "could not finish" when the work failed: never leave it spinning.

        Tried ``CLOSE_ATTEMPTS`` times, each with the token renewed if GitHub refused it: the
        work may have failed because GitHub refused the installation's tokens for a while.
        Never raises: the caller re-raises what made the work fail.
        """
        if self.completed or isinstance(failure, LeaseLost):
            # LeaseLost: the job, and this run with it, is another worker's to finish.
            return
        reason = abandon_reason(failure)
        closing = {
            "status": "completed",
            "conclusion": "neutral",
            "completed_at": _now(),
            "output": {"title": "wheelwatch could not finish", "summary": reason},
        }
        problem: Exception | None = None
        for _ in range(CLOSE_ATTEMPTS):
            try:
                await self._update(closing)
            except Exception as exc:
                problem = exc
                continue
            self.completed = True
            log.info(
                "delivery %s: check run %d closed as 'could not finish'", self.delivery_id, self.id
            )
            return
        log.error(
            "delivery %s: check run %d left in progress, GitHub refused to close it (%r)",
            self.delivery_id,
            self.id,
            problem,
        )

    async def _update(self, data: dict[str, Any]) -> None:
        url_vars = self.repo.url_vars(check_run_id=self.id)
        expected = self.annotations + len(data.get("output", {}).get("annotations", []))

        async def update() -> bool:
            await self.gh.patch(CHECK_RUN_URL, url_vars, data=data)
            return True

        async def find() -> bool | None:
            # GitHub appends annotations, so the count says whether this batch is stored.
            run = await self.gh.getitem(CHECK_RUN_URL, url_vars)
            stored = int((run.get("output") or {}).get("annotations_count") or 0)
            status = data.get("status")
            if stored >= expected and (status is None or run.get("status") == status):
                return True
            return None

        await write_once(update, find, what=f"check run {self.id}")
        self.annotations = expected


async def trusted_config(
    gh: GitHubAPI,
    repo: Repository,
    sha: str,
    config_ref: str,
    offload: Offload,
    *,
    changed: bool = False,
) -> RepoConfig | None:
    """The configuration that judges ``sha``; ``None`` when it is ``sha``'s own, which the
    analyser reads from the commit's tree (through the content cache)."""
    if config_ref == sha and not changed:
        return None
    return await read_repo_config(
        gh, repo, config_ref, offload=offload, changed_by_pull_request=changed
    )


async def check_commit(
    gh: GitHubAPI,
    repo: Repository,
    sha: str,
    analyser: Analyser,
    *,
    config_ref: str,
    config_changed: bool = False,
    source: Repository | None = None,
    delivery: DeliveryContext | None = None,
    default_branch: str | None = None,
) -> Snapshot | None:
    """Analyse every workflow file of commit ``sha`` (read from ``source``) and report them
    in a check run; ``None``, and no check run, when the commit has no workflow file.

    The configuration is read from ``repo`` at ``config_ref`` (see ``config_ref``), never
    from a fork: from the commit's own tree when that is the trusted one. ``default_branch``
    is given when ``sha`` is that branch's head: with ``fix-pull-request: automatic`` the fix
    pull request is then opened (or updated) too, and the check run says how that went.
    """
    source = source or repo
    tree = await read_tree(gh, source, sha)
    if not tree.workflows:
        return None
    offload = delivery.offload if delivery is not None else Offload(None, float("inf"))
    repo_config = await trusted_config(gh, repo, sha, config_ref, offload, changed=config_changed)
    check = await CheckRun.start(gh, repo, sha, delivery=delivery)
    try:
        snapshot = await analyser.snapshot(
            gh, source, sha, tree=tree, repo_config=repo_config, offload=offload
        )
        fix_note = None
        automatic = snapshot.repo_config.config.fix_pull_request == "automatic"
        if default_branch is not None and automatic and fixable(snapshot):
            outcome = await try_fix_pull_request(gh, repo, snapshot, default_branch, offload)
            fix_note = outcome.message
        await check.complete(snapshot, offload, fix_note=fix_note)
    except BaseException as exc:
        await check.abandon(exc)
        raise
    return snapshot


async def note_on_check_run(
    gh: GitHubAPI, repo: Repository, check_run_id: int, output: dict[str, Any], message: str
) -> None:
    """Say in an existing check run what became of the fix pull request (annotations stay)."""
    summary = check_output.with_fix_note(str(output.get("summary") or ""), message)
    data = {
        "output": {"title": str(output.get("title") or check_output.CHECK_NAME), "summary": summary}
    }
    url_vars = repo.url_vars(check_run_id=check_run_id)

    async def update() -> None:
        await gh.patch(CHECK_RUN_URL, url_vars, data=data)

    async def nothing() -> None:
        return None

    # The same summary set twice is harmless: no lookup before repeating a lost update.
    await write_once(update, nothing, what=f"note on check run {check_run_id}")


def abandon_reason(exc: BaseException) -> str:
    """What the check run says when the work under it stopped."""
    if isinstance(exc, Superseded):
        return "A newer delivery for this pull request or commit replaced this analysis."
    if isinstance(exc, AnalysisTimeout):
        return "The analysis ran out of time; re-run the check to retry."
    return "An error interrupted the analysis; re-run the check to retry."

"""Pull requests: review the workflow files they change, inline where the diff allows, and
report every workflow file of the head commit in the check run."""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from typing import Any

import gidgethub
from gidgethub import routing, sansio
from gidgethub.abc import GitHubAPI

from bot.app.check_run import CheckRun
from bot.app.delivery import DeliveryContext, released_on_failure
from bot.app.diff import Hunk, parse_hunks
from bot.app.process_pool import Offload
from bot.app.review import PostedMarkers, ReviewPlan, plan_review
from bot.app.snapshot import read_tree
from bot.app.workflows import Repository, WorkflowFile, is_workflow_path, read_repo_config
from bot.app.writes import write_once
from bot.settings import CONFIG_PATH

log = logging.getLogger(__name__)
router = routing.Router()

PULL_URL = "/repos/{owner}/{repo}/pulls/{pull_number}"


@dataclass(frozen=True)
class PullRequestChanges:
    # The workflow files the pull request adds or modifies, with the hunks of each patch.
    workflows: dict[str, tuple[Hunk, ...]]
    # Whether it touches .github/wheelwatch.yml (which does not judge it: its base's does).
    config: bool


async def pull_request_changes(gh: GitHubAPI, repo: Repository, number: int) -> PullRequestChanges:
    workflows: dict[str, tuple[Hunk, ...]] = {}
    config = False
    url_vars = repo.url_vars(pull_number=number, per_page=100)
    async for file in gh.getiter(PULL_URL + "/files{?per_page}", url_vars):
        path = str(file.get("filename", ""))
        config = config or CONFIG_PATH in (path, file.get("previous_filename"))
        if file.get("status") != "removed" and is_workflow_path(path):
            workflows[path] = parse_hunks(file.get("patch"))
    return PullRequestChanges(workflows, config)


async def posted_markers(
    gh: GitHubAPI, repo: Repository, number: int, bot_login: str
) -> PostedMarkers:
    """Markers of what earlier runs posted, from the App's review comments and review bodies."""
    url_vars = repo.url_vars(pull_number=number, per_page=100)
    texts: list[str] = []
    for listing in ("/comments{?per_page}", "/reviews{?per_page}"):
        async for item in gh.getiter(PULL_URL + listing, url_vars):
            # Only the App's own text counts: anyone, another bot too, can quote a marker to
            # silence a finding.
            login = (item.get("user") or {}).get("login")
            if isinstance(login, str) and login.lower() == bot_login.lower():
                texts.append(str(item.get("body") or ""))
    return PostedMarkers.from_texts(texts)


@router.register("pull_request", action="opened")
@router.register("pull_request", action="synchronize")
@router.register("pull_request", action="reopened")
@router.register("pull_request", action="ready_for_review")
async def review_pull_request(
    event: sansio.Event, gh: GitHubAPI, *args: Any, context: DeliveryContext, **kwargs: Any
) -> None:
    pull = event.data["pull_request"]
    repo = Repository.from_full_name(event.data["repository"]["full_name"])
    number = int(pull["number"])
    head_sha = str(pull["head"]["sha"])
    # A fork's commits are read from the fork; a deleted fork leaves them in the base repo.
    head_repo_data = pull["head"].get("repo")
    source = Repository.from_full_name(head_repo_data["full_name"]) if head_repo_data else repo

    changes = await pull_request_changes(gh, repo, number)
    changed = changes.workflows
    if not await context.is_current():
        return
    # The check run covers every workflow of the head commit; the review only what changed.
    claimed = await context.commits.claim(repo.full_name, head_sha)
    if not changed and not claimed:
        log.info(
            "delivery %s: %s#%d changes no workflow", context.delivery_id, repo.full_name, number
        )
        return
    async with (
        released_on_failure(context.commits, repo.full_name, head_sha)
        if claimed
        else contextlib.nullcontext()
    ):
        tree = await read_tree(gh, source, head_sha)
        if not tree.workflows:
            return
        # The base's configuration, never the head's: else a pull request that adds one
        # disabling a rule next to an unsafe workflow passes unreviewed.
        base_sha = str(pull["base"]["sha"])
        repo_config = await read_repo_config(
            gh, repo, base_sha, offload=context.offload, changed_by_pull_request=changes.config
        )
        check = await CheckRun.start(gh, repo, head_sha, delivery=context) if claimed else None
        try:
            snapshot = await context.analyser.snapshot(
                gh, source, head_sha, tree=tree, repo_config=repo_config, offload=context.offload
            )
            context.count_findings(snapshot.files)
            if changed:
                reviewed = [
                    WorkflowFile(file.path, file.text, file.analysis, changed[file.path])
                    for file in snapshot.files
                    if file.path in changed
                ]
                await _post_review(
                    gh, repo, number, head_sha, reviewed, context, repo_config.notice()
                )
            if check is not None:
                await check.complete(snapshot, context.offload)
        except BaseException as exc:
            if check is not None:
                await check.abandon(exc)
            raise


async def _post_review(
    gh: GitHubAPI,
    repo: Repository,
    number: int,
    head_sha: str,
    files: list[WorkflowFile],
    context: DeliveryContext,
    note: str | None,
) -> None:
    # Listed even when nothing is found now: an earlier finding may just have been fixed.
    bot_login = await context.bot_login()
    markers = await posted_markers(gh, repo, number, bot_login)
    # One diff per finding: a worker process's job, not the event loop's.
    offload = context.offload
    plan = await offload.render(plan_review, files, markers, note=note)
    if plan is None:
        return
    if not await context.is_current():
        log.info("delivery %s: superseded by a later delivery, not posting", context.delivery_id)
        return
    try:
        await _post_once(gh, repo, number, head_sha, plan, files, bot_login, offload)
    except gidgethub.BadRequest as exc:
        if exc.status_code != 422 or not plan.comments:
            raise
        # GitHub refused an anchor (one bad anchor sinks the review): post it all in the body.
        log.warning(
            "delivery %s: review refused (%s); posting without anchors", context.delivery_id, exc
        )
        unanchored = [WorkflowFile(file.path, file.text, file.analysis, ()) for file in files]
        fallback = await offload.render(plan_review, unanchored, markers, note=note)
        if fallback is not None:
            await _post_once(gh, repo, number, head_sha, fallback, unanchored, bot_login, offload)


async def _post_once(
    gh: GitHubAPI,
    repo: Repository,
    number: int,
    head_sha: str,
    plan: ReviewPlan,
    files: list[WorkflowFile],
    bot_login: str,
    offload: Offload,
) -> None:
    """Post the review; if the answer is lost, post it again only if its markers are missing."""

    async def post() -> bool:
        url_vars = repo.url_vars(pull_number=number)
        await gh.post(PULL_URL + "/reviews", url_vars, data=plan.request(head_sha))
        return True

    async def find() -> bool | None:
        # Posted if, read again, the pull request leaves nothing new to say.
        markers = await posted_markers(gh, repo, number, bot_login)
        return True if await offload.render(plan_review, files, markers) is None else None

    await write_once(post, find, what=f"review of {repo.full_name}#{number}")

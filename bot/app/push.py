"""Branch pushes: a check run for the workflow files the pushed commits add or modify."""

from __future__ import annotations

import logging
from typing import Any

from gidgethub import routing, sansio
from gidgethub.abc import GitHubAPI

from bot.app.check_run import check_commit
from bot.app.delivery import DeliveryContext, released_on_failure
from bot.app.workflows import Repository, config_ref, is_workflow_path

log = logging.getLogger(__name__)
router = routing.Router()

NULL_SHA = "0" * 40
COMPARE_URL = "/repos/{owner}/{repo}/compare/{basehead}"
# GitHub lists at most 20 commits in a push payload; beyond that, ask for the comparison.
PAYLOAD_COMMIT_LIMIT = 20


def workflow_paths(commits: list[dict[str, Any]]) -> set[str]:
    return {
        str(path)
        for commit in commits
        for path in [*(commit.get("added") or []), *(commit.get("modified") or [])]
        if is_workflow_path(str(path))
    }


async def compared_workflow_paths(
    gh: GitHubAPI, repo: Repository, before: str, after: str
) -> set[str]:
    data = await gh.getitem(COMPARE_URL, repo.url_vars(basehead=f"{before}...{after}"))
    return {
        str(file["filename"])
        for file in data.get("files") or []
        if file.get("status") != "removed" and is_workflow_path(str(file.get("filename", "")))
    }


@router.register("push")
async def check_push(
    event: sansio.Event, gh: GitHubAPI, *args: Any, context: DeliveryContext, **kwargs: Any
) -> None:
    data = event.data
    ref = str(data.get("ref", ""))
    after = str(data.get("after") or NULL_SHA)
    if not ref.startswith("refs/heads/") or data.get("deleted") or after == NULL_SHA:
        log.info("delivery %s: skipping %s (not a branch update)", context.delivery_id, ref)
        return
    repo = Repository.from_full_name(data["repository"]["full_name"])
    commits = list(data.get("commits") or [])
    paths = workflow_paths(commits)
    before = str(data.get("before") or NULL_SHA)
    if len(commits) >= PAYLOAD_COMMIT_LIMIT and before != NULL_SHA:
        paths = await compared_workflow_paths(gh, repo, before, after)
    if not paths:
        return
    if not await context.commits.claim(repo.full_name, after):
        log.info("delivery %s: %s already checked", context.delivery_id, after)
        return
    branch = ref.removeprefix("refs/heads/")
    async with released_on_failure(context.commits, repo.full_name, after):
        files = await check_commit(
            gh,
            repo,
            after,
            paths,
            config_ref=config_ref(data["repository"], branch, after),
            delivery=context,
        )
    for file in files:
        for finding in file.analysis.findings:
            context.metrics.finding(finding.rule_id)

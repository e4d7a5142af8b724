"""Branch pushes: a check run for every workflow file of the pushed commit."""

from __future__ import annotations

import logging
from typing import Any

from gidgethub import routing, sansio
from gidgethub.abc import GitHubAPI

from bot.app.check_run import check_commit
from bot.app.delivery import DeliveryContext, released_on_failure
from bot.app.workflows import Repository, config_ref

log = logging.getLogger(__name__)
router = routing.Router()

NULL_SHA = "0" * 40


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
    # The check run covers the whole commit, so which files the push changed does not matter:
    # a push that changes no workflow costs the tree call and the check run, and reads nothing
    # it has read before.
    if not await context.commits.claim(repo.full_name, after):
        log.info("delivery %s: %s already checked", context.delivery_id, after)
        return
    branch = ref.removeprefix("refs/heads/")
    trusted = config_ref(data["repository"], branch, after)
    async with released_on_failure(context.commits, repo.full_name, after):
        default = data["repository"].get("default_branch")
        snapshot = await check_commit(
            gh,
            repo,
            after,
            context.analyser,
            config_ref=trusted,
            delivery=context,
            # Only the default branch's pushes may open the fix pull request on their own.
            default_branch=branch if branch == default else None,
        )
    if snapshot is not None:
        context.count_findings(snapshot.files)

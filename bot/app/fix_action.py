"""The "Fix" button: ``check_run.requested_action`` with the identifier ``fix`` on one of the
App's check runs opens (or updates) the fix pull request for that check run's commit."""

from __future__ import annotations

import logging
from typing import Any

from gidgethub import routing, sansio
from gidgethub.abc import GitHubAPI

from bot.app.check_run import note_on_check_run, trusted_config
from bot.app.delivery import DeliveryContext
from bot.app.fix_pull_request import FIX_ACTION, try_fix_pull_request
from bot.app.rerun import is_ours
from bot.app.snapshot import read_tree
from bot.app.workflows import Repository, config_ref

log = logging.getLogger(__name__)
router = routing.Router()


@router.register("check_run", action="requested_action")
async def fix_requested(
    event: sansio.Event, gh: GitHubAPI, *args: Any, context: DeliveryContext, **kwargs: Any
) -> None:
    data = event.data
    run = data["check_run"]
    identifier = (data.get("requested_action") or {}).get("identifier")
    if identifier != FIX_ACTION["identifier"] or not is_ours(run, context):
        log.info("delivery %s: requested action %r is not ours", context.delivery_id, identifier)
        return
    repository = data["repository"]
    repo = Repository.from_full_name(repository["full_name"])
    sha = str(run["head_sha"])
    branch = str((run.get("check_suite") or {}).get("head_branch") or "")
    tree = await read_tree(gh, repo, sha)
    trusted = config_ref(repository, branch, sha)
    repo_config = await trusted_config(gh, repo, sha, trusted, context.offload)
    snapshot = await context.analyser.snapshot(
        gh, repo, sha, tree=tree, repo_config=repo_config, offload=context.offload
    )
    outcome = await try_fix_pull_request(
        gh, repo, snapshot, str(repository["default_branch"]), context.offload
    )
    await note_on_check_run(gh, repo, int(run["id"]), run.get("output") or {}, outcome.message)

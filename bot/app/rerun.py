"""``check_suite`` and ``check_run`` events: (re-)run the analysis for a head commit."""

from __future__ import annotations

import logging
from typing import Any

from gidgethub import routing, sansio
from gidgethub.abc import GitHubAPI

from bot.app.check_output import CHECK_NAME
from bot.app.check_run import check_commit
from bot.app.delivery import DeliveryContext, released_on_failure
from bot.app.pull_request import pull_request_changes
from bot.app.workflows import Repository, config_ref

log = logging.getLogger(__name__)
router = routing.Router()


async def _rerun(
    gh: GitHubAPI,
    repo: Repository,
    repository: dict[str, Any],
    suite: dict[str, Any],
    context: DeliveryContext,
    *,
    force: bool,
) -> None:
    sha = str(suite["head_sha"])
    # A push to a branch also arrives as `push` (and often `pull_request`): one check run.
    if not await context.commits.claim(repo.full_name, sha, force=force):
        log.info("delivery %s: %s already checked", context.delivery_id, sha)
        return
    async with released_on_failure(context.commits, repo.full_name, sha):
        pulls = suite.get("pull_requests") or []
        config_changed = False
        # A pull request's commit is judged by its base's configuration, like its review.
        trusted = config_ref(repository, str(suite.get("head_branch") or ""), sha)
        if pulls:
            changes = await pull_request_changes(gh, repo, int(pulls[0]["number"]))
            config_changed = changes.config
            trusted = str((pulls[0].get("base") or {}).get("sha") or trusted)
        snapshot = await check_commit(
            gh,
            repo,
            sha,
            context.analyser,
            config_ref=trusted,
            config_changed=config_changed,
            delivery=context,
        )
    if snapshot is not None:
        context.count_findings(snapshot.files)


def is_ours(run: dict[str, Any], context: DeliveryContext) -> bool:
    app_id = str((run.get("app") or {}).get("id", ""))
    return run.get("name") == CHECK_NAME and app_id == context.app_id


@router.register("check_suite", action="requested")
@router.register("check_suite", action="rerequested")
async def check_suite(
    event: sansio.Event, gh: GitHubAPI, *args: Any, context: DeliveryContext, **kwargs: Any
) -> None:
    repo = Repository.from_full_name(event.data["repository"]["full_name"])
    force = event.data.get("action") == "rerequested"
    await _rerun(
        gh, repo, event.data["repository"], event.data["check_suite"], context, force=force
    )


@router.register("check_run", action="rerequested")
async def rerun_check_run(
    event: sansio.Event, gh: GitHubAPI, *args: Any, context: DeliveryContext, **kwargs: Any
) -> None:
    run = event.data["check_run"]
    if not is_ours(run, context):
        log.info("delivery %s: check run %r is not ours", context.delivery_id, run.get("name"))
        return
    repo = Repository.from_full_name(event.data["repository"]["full_name"])
    suite = {**run.get("check_suite", {}), "head_sha": run["head_sha"]}
    suite.setdefault("pull_requests", run.get("pull_requests") or [])
    await _rerun(gh, repo, event.data["repository"], suite, context, force=True)

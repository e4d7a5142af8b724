"""Installation: every repository the App is given gets a check run on its default branch.

``installation.created`` lists the repositories of a new installation,
``installation_repositories.added`` the ones added later. Each is checked like a push of its
default branch's head; a repository without workflow files gets no check run, and one the
App cannot read is logged and skipped. Large installations are paced: a few repositories at
a time, and the transport waits out rate limits before going on.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import gidgethub
from gidgethub import routing, sansio
from gidgethub.abc import GitHubAPI

from bot.app.check_run import check_commit
from bot.app.delivery import DeliveryContext, released_on_failure
from bot.app.github import GitHubUnavailable
from bot.app.workflows import Repository

log = logging.getLogger(__name__)
router = routing.Router()

REPO_URL = "/repos/{owner}/{repo}"
BRANCH_URL = "/repos/{owner}/{repo}/branches/{branch}"
# Repositories of one installation checked at once: enough to hide GitHub's latency, few
# enough that a large installation neither trips secondary rate limits (GitHub asks for
# no more than a handful of concurrent requests per token) nor holds every connection.
CONCURRENT_REPOSITORIES = 4


async def default_branch_head(gh: GitHubAPI, repo: Repository) -> tuple[str, str]:
    """The default branch's name and head commit."""
    data = await gh.getitem(REPO_URL, repo.url_vars())
    branch = str(data["default_branch"])
    head = await gh.getitem(BRANCH_URL, repo.url_vars(branch=branch))
    return branch, str(head["commit"]["sha"])


async def check_default_branch(gh: GitHubAPI, repo: Repository, context: DeliveryContext) -> None:
    branch, sha = await default_branch_head(gh, repo)
    if not await context.commits.claim(repo.full_name, sha):
        return
    async with released_on_failure(context.commits, repo.full_name, sha):
        # The default branch's head is judged by its own configuration.
        snapshot = await check_commit(
            gh, repo, sha, context.analyser, config_ref=sha, default_branch=branch
        )
    if snapshot is not None:
        context.count_findings(snapshot.files)


@router.register("installation", action="created")
@router.register("installation_repositories", action="added")
async def check_installed_repositories(
    event: sansio.Event, gh: GitHubAPI, *args: Any, context: DeliveryContext, **kwargs: Any
) -> None:
    key = "repositories" if event.event == "installation" else "repositories_added"
    names = [str(item["full_name"]) for item in event.data.get(key) or []]
    pace = asyncio.Semaphore(CONCURRENT_REPOSITORIES)

    async def check(name: str) -> None:
        async with pace:
            try:
                await check_default_branch(gh, Repository.from_full_name(name), context)
            except (gidgethub.HTTPException, GitHubUnavailable, KeyError, ValueError) as exc:
                # One repository the App cannot read must not cost the others their check.
                log.warning("delivery %s: %s skipped: %r", context.delivery_id, name, exc)

    await asyncio.gather(*(check(name) for name in names))

"""``ping`` and installation events: acknowledged and logged, nothing else."""

from __future__ import annotations

import logging
from typing import Any

from gidgethub import routing, sansio
from gidgethub.abc import GitHubAPI

from bot.app.delivery import DeliveryContext

log = logging.getLogger(__name__)
router = routing.Router()


@router.register("ping")
@router.register("installation")
@router.register("installation_repositories")
async def log_lifecycle(
    event: sansio.Event, gh: GitHubAPI | None, *args: Any, context: DeliveryContext, **kwargs: Any
) -> None:
    data = event.data
    account = ((data.get("installation") or {}).get("account") or {}).get("login")
    repos = [
        repo.get("full_name")
        for key in ("repositories", "repositories_added", "repositories_removed")
        for repo in data.get(key) or []
    ]
    log.info(
        "delivery %s: %s %s account=%s repositories=%s zen=%r",
        context.delivery_id,
        event.event,
        data.get("action", ""),
        account,
        repos[:20],
        data.get("zen"),
    )

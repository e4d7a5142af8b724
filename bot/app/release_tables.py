"""Which Pythons are pre-releases: the shipped table, refreshed from actions/python-versions.

actions/python-versions' ``versions-manifest.json`` lists every build ``actions/setup-python``
can install; a minor with a stable ``X.Y.0`` there is final, even before wheelwatch ships a
new table (``ReleaseTable.with_manifest``). The file is read through the API with the
delivery's installation token, at most once a day (once an hour after a failure), with the
ETag of the last answer (gidgethub's conditional requests): an unchanged manifest is a 304.
A refresh never holds up a delivery's analysis beyond its own request, and a failed one
keeps the table in use.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import gidgethub
from gidgethub.abc import GitHubAPI

from bot import __version__
from bot.app.analysis_cache import digest
from bot.app.github import GitHubUnavailable
from bot.engine.versions import ReleaseTable

log = logging.getLogger(__name__)

MANIFEST_URL = "/repos/actions/python-versions/contents/versions-manifest.json"
# The manifest is over 1 MB: the contents API sends such files only as raw bytes.
RAW = "application/vnd.github.raw+json"
REFRESH_SECONDS = 24 * 3600.0
RETRY_SECONDS = 3600.0


@dataclass(frozen=True)
class Releases:
    """The release table an analysis uses, and how the check run names it."""

    table: ReleaseTable
    label: str
    digest: str

    @classmethod
    def shipped(cls) -> Releases:
        table = ReleaseTable.shipped()
        return cls(table, f"the table shipped with wheelwatch {__version__}", digest(table))


def manifest_entries(data: Any) -> list[dict[str, object]]:
    """The manifest's entries from the contents API's answer (raw text, or JSON with base64
    content); raises ValueError when it is neither."""
    if isinstance(data, dict) and "content" in data:
        try:
            data = base64.b64decode(str(data["content"])).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise ValueError(f"manifest content not readable: {exc}") from None
    if isinstance(data, bytes | str):
        data = json.loads(data)
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise ValueError("the manifest is not a list of versions")
    return data


class ReleaseTables:
    """The table in use; :meth:`current` refreshes it when a day has passed."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        refresh: bool = True,
    ) -> None:
        self._refresh_enabled = refresh
        self._clock = clock
        self._shipped = Releases.shipped()
        self.releases = self._shipped
        self._next_refresh = clock()
        self._refreshing = asyncio.Lock()
        self.refreshes = 0

    async def current(self, gh: GitHubAPI | None, today: date) -> Releases:
        """The table to use; a refresh counts a minor the manifest lists as stable final from
        ``today``, the day the App judges the commit as of."""
        if not self._refresh_enabled or gh is None or self._refreshing.locked():
            return self.releases  # a refresh under way: use the table in hand meanwhile
        if self._clock() < self._next_refresh:
            return self.releases
        async with self._refreshing:
            if self._clock() >= self._next_refresh:
                await self._refresh(gh, today)
        return self.releases

    async def _refresh(self, gh: GitHubAPI, today: date) -> None:
        self.refreshes += 1
        try:
            entries = manifest_entries(await gh.getitem(MANIFEST_URL, accept=RAW))
        except (gidgethub.HTTPException, GitHubUnavailable, ValueError) as exc:
            log.warning("release table: versions-manifest.json not read (%r); kept as is", exc)
            self._next_refresh = self._clock() + RETRY_SECONDS
            return
        table = self._shipped.table.with_manifest(entries, today)
        label = (
            f"{self._shipped.label}, refreshed from actions/python-versions' "
            f"versions-manifest.json on {today.isoformat()}"
        )
        self.releases = Releases(table, label, digest(table))
        self._next_refresh = self._clock() + REFRESH_SECONDS

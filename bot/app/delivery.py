"""What a handler knows about the delivery it serves, and the rules deliveries share.

* :class:`LatestWins` serialises deliveries about one subject (a pull request, a commit)
  and lets a later delivery supersede an earlier one: the earlier one does not post.
* :class:`CommitClaims` makes sure one commit gets one ``wheelwatch`` check run, although
  a push to a pull request's branch arrives as ``push``, ``pull_request.synchronize`` and
  ``check_suite.requested``.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from cachetools import TTLCache

from bot.app.metrics import Metrics


@dataclass
class _Subject:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    latest: int = 0
    holders: int = 0


@dataclass(frozen=True)
class Ticket:
    subject: str
    number: int


class LatestWins:
    """Per-subject ordering: tickets are taken in arrival order, work runs one at a time.

    Only subjects with deliveries in flight are held, so memory is bounded by the queue.
    """

    def __init__(self) -> None:
        self._subjects: dict[str, _Subject] = {}
        self._numbers = itertools.count(1)

    def take(self, subject: str) -> Ticket:
        state = self._subjects.setdefault(subject, _Subject())
        state.holders += 1
        state.latest = next(self._numbers)
        return Ticket(subject, state.latest)

    def is_current(self, ticket: Ticket) -> bool:
        state = self._subjects.get(ticket.subject)
        return state is not None and state.latest == ticket.number

    @asynccontextmanager
    async def turn(self, ticket: Ticket) -> AsyncIterator[None]:
        state = self._subjects[ticket.subject]
        try:
            async with state.lock:
                yield
        finally:
            state.holders -= 1
            if state.holders == 0:
                del self._subjects[ticket.subject]

    def __len__(self) -> int:
        return len(self._subjects)


class CommitClaims:
    """Remembers (bounded, for an hour) which commits already have a check run from us."""

    def __init__(self, maxsize: int = 10_000, ttl: float = 3600.0) -> None:
        self._claimed: TTLCache[tuple[str, str], bool] = TTLCache(
            maxsize, ttl, timer=time.monotonic
        )

    def claim(self, repository: str, sha: str, *, force: bool = False) -> bool:
        """True if the caller should create the check run for this commit."""
        key = (repository, sha)
        if key in self._claimed and not force:
            return False
        self._claimed[key] = True
        return True


@dataclass(frozen=True)
class DeliveryContext:
    """Passed to every handler as ``context=``."""

    delivery_id: str
    ticket: Ticket
    order: LatestWins
    commits: CommitClaims
    metrics: Metrics
    app_id: str

    def is_current(self) -> bool:
        """False once a later delivery about the same subject has arrived."""
        return self.order.is_current(self.ticket)

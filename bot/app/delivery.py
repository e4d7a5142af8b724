"""What a handler knows about the delivery it serves, and the rules deliveries share.

* :class:`LatestWins` serialises deliveries about one subject (a pull request, a commit)
  and lets a later delivery supersede an earlier one: the earlier one does not post.
* :class:`SubjectQueue` is the bounded queue of deliveries waiting for a worker, holding at
  most one delivery per subject: a later one replaces the one still waiting.
* :class:`CommitClaims` makes sure one commit gets one ``wheelwatch`` check run, although
  a push to a pull request's branch arrives as ``push``, ``pull_request.synchronize`` and
  ``check_suite.requested``.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from cachetools import TTLCache

from bot.app.metrics import Metrics
from bot.app.process_pool import Offload
from bot.app.snapshot import Analyser
from bot.app.workflows import WorkflowFile


@dataclass
class _Subject:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    latest: int = 0
    holders: int = 0
    # Set (and replaced) whenever a later ticket is taken: wakes ``superseded`` waiters.
    newer: asyncio.Event = field(default_factory=asyncio.Event)


class LeaseLost(Exception):
    """This try of a delivery no longer holds its job: another worker has taken it over (the
    lease lapsed while this one stalled). It must not write to GitHub any more."""


# Awaited right before each write to GitHub; raises LeaseLost (bot.app.queue_redis.JobLease).
WriteCheck = Callable[[], Awaitable[None]]


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
        state.newer.set()
        state.newer = asyncio.Event()
        return Ticket(subject, state.latest)

    async def superseded(self, ticket: Ticket) -> None:
        """Returns once a later ticket about the same subject has been taken."""
        while (state := self._subjects.get(ticket.subject)) and state.latest == ticket.number:
            await state.newer.wait()

    async def is_current(self, ticket: Ticket) -> bool:
        state = self._subjects.get(ticket.subject)
        return state is not None and state.latest == ticket.number

    def hold(self, ticket: Ticket) -> None:
        """Keep the subject's order for a delivery that will take another turn (it runs
        again later, bot.app.reruns): a later ticket taken meanwhile still supersedes it.
        The extra turn, or a ``release``, gives the hold back."""
        self._subjects[ticket.subject].holders += 1

    def release(self, ticket: Ticket) -> None:
        """Give back a ticket whose delivery will never take its turn (it was replaced)."""
        state = self._subjects[ticket.subject]
        state.holders -= 1
        if state.holders == 0:
            del self._subjects[ticket.subject]

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


T = TypeVar("T")


class SubjectQueue(Generic[T]):
    """Deliveries waiting for a worker, first in first out, at most one per subject.

    ``put_nowait(subject, item)`` either takes a new place at the back (``asyncio.QueueFull``
    when ``maxsize`` subjects already wait) or, if a delivery about the same subject is still
    waiting (not yet taken by a worker), replaces it in its place and returns it. A delivery
    already taken by a worker is never replaced here: :class:`LatestWins` orders it with the
    later one. ``get``, ``task_done``, ``join``, ``qsize``, ``full`` and ``empty`` behave as
    ``asyncio.Queue``'s, counting subjects; a replacement adds no unfinished task.
    """

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        # The order of subjects; the waiting delivery of each is in ``_waiting``.
        self._order: asyncio.Queue[str] = asyncio.Queue(maxsize)
        self._waiting: dict[str, T] = {}

    def put_nowait(self, subject: str, item: T) -> T | None:
        replaced = self._waiting.get(subject)
        if replaced is None:
            self._order.put_nowait(subject)  # raises QueueFull before anything changes
        self._waiting[subject] = item
        return replaced

    def waiting(self, subject: str) -> bool:
        return subject in self._waiting

    async def get(self) -> T:
        subject = await self._order.get()
        return self._waiting.pop(subject)

    def task_done(self) -> None:
        self._order.task_done()

    async def join(self) -> None:
        await self._order.join()

    def take_all(self) -> list[T]:
        """Empty the queue (the shutdown gave up waiting): what waited, oldest first."""
        taken = []
        while not self._order.empty():
            taken.append(self._waiting.pop(self._order.get_nowait()))
            self._order.task_done()
        return taken

    def oldest(self) -> T | None:
        """The delivery at the head of the queue (subjects keep their place when replaced)."""
        return next(iter(self._waiting.values()), None)

    def qsize(self) -> int:
        return self._order.qsize()

    def full(self) -> bool:
        return self._order.full()

    def empty(self) -> bool:
        return self._order.empty()


class SubjectOrder(Protocol):
    """What handlers and workers need of the per-subject ordering, in one process
    (:class:`LatestWins`) or across processes (``bot.app.queue_redis.RedisOrder``)."""

    async def is_current(self, ticket: Ticket) -> bool: ...

    def turn(self, ticket: Ticket) -> AbstractAsyncContextManager[None]: ...


class Claims(Protocol):
    """Which commits already have our check run, in one process or across processes."""

    async def claim(self, repository: str, sha: str, *, force: bool = False) -> bool: ...

    async def release(self, repository: str, sha: str) -> None: ...


@asynccontextmanager
async def released_on_failure(claims: Claims, repository: str, sha: str) -> AsyncIterator[None]:
    """Give a commit's claim back if the work under it fails.

    A claim stands for a finished check run. Kept after a failure (no check run created, or
    one closed as "could not finish"), it made every later delivery about the commit skip it
    as "already checked" for an hour.
    """
    try:
        yield
    except BaseException:
        await claims.release(repository, sha)
        raise


class ClaimStore(Protocol):
    """Hands each delivery its view of the claims (in Redis, a claim has an owner)."""

    def for_delivery(self, delivery_id: str) -> Claims: ...


class CommitClaims:
    """Remembers (bounded, for an hour) which commits already have a check run from us."""

    def __init__(self, maxsize: int = 10_000, ttl: float = 3600.0) -> None:
        self._claimed: TTLCache[tuple[str, str], bool] = TTLCache(
            maxsize, ttl, timer=time.monotonic
        )

    def for_delivery(self, delivery_id: str) -> Claims:
        # One process never runs a delivery twice, so no claim needs an owner.
        return self

    async def claim(self, repository: str, sha: str, *, force: bool = False) -> bool:
        """True if the caller should create the check run for this commit."""
        key = (repository, sha)
        if key in self._claimed and not force:
            return False
        self._claimed[key] = True
        return True

    async def release(self, repository: str, sha: str) -> None:
        self._claimed.pop((repository, sha), None)


@dataclass(frozen=True)
class DeliveryContext:
    """Passed to every handler as ``context=``."""

    delivery_id: str
    ticket: Ticket
    order: SubjectOrder
    commits: Claims
    metrics: Metrics
    app_id: str
    # The App's own login (``<slug>[bot]``): only its comments carry trusted markers.
    bot_login: Callable[[], Awaitable[str]]
    # Reads and analyses commits through the process's content cache.
    analyser: Analyser
    # 2 and more: an earlier try of this delivery ran, or began to (a run again after GitHub
    # failed, a worker killed or cancelled, Redis failing as the job started), and may have
    # created what this one is about to.
    attempt: int = 1
    # Where CPU-heavy work runs: a worker process, bounded and cancellable (process_pool).
    offload: Offload = field(default_factory=lambda: Offload(None, float("inf")))

    def count_findings(self, files: Iterable[WorkflowFile]) -> None:
        for file in files:
            for finding in file.analysis.findings:
                self.metrics.finding(finding.rule_id)

    async def is_current(self) -> bool:
        """False once a later delivery about the same subject has arrived."""
        return await self.order.is_current(self.ticket)

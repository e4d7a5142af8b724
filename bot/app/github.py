"""Talking to GitHub as the App: JWT, installation tokens, retries, ETags.

One :class:`GitHubApp` lives per process. It owns the single ``aiohttp.ClientSession``
(created by the server's cleanup context), the cache of installation tokens and one
:class:`EtagCache` for all installations, bounded in bytes. Each delivery gets an
:class:`InstallationClient`,
a ``gidgethub.abc.GitHubAPI`` whose requests go through :class:`Transport`, which retries
what retrying can fix and counts every response.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiohttp
from cachetools import LRUCache, TLRUCache
from gidgethub import abc as gh_abc
from gidgethub import sansio
from uritemplate import variable

from bot.app.metrics import Metrics

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]

USER_AGENT = "wheelwatch"
# Renew an installation token this long before GitHub says it expires (tokens last 1 hour).
TOKEN_RENEW_MARGIN = 5 * 60.0
# GitHub asks clients to wait at least a minute after a secondary rate limit without retry-after.
SECONDARY_LIMIT_WAIT = 60.0
# Pages read from one listing: 10,000 items at 100 a page. The longest listing the App reads,
# a pull request's files, stops at 3,000; a Link header that goes on past this is broken.
MAX_PAGES = 100


class GitHubUnavailable(Exception):
    """GitHub could not be reached (timeouts, connection errors) after every retry."""


class UnexpectedAnswer(Exception):
    """GitHub answered something the App cannot use (a pagination that does not end)."""


class AnswerLost(GitHubUnavailable):
    """A write's answer never came (timeout, dropped connection, 5xx): GitHub may or may not
    have applied it, so the transport does not repeat it (see ``bot.app.writes``)."""


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    base_wait: float = 1.0
    max_backoff: float = 30.0
    # A rate-limit wait longer than this is not worth holding a worker for: give up instead.
    max_rate_limit_wait: float = 120.0
    timeout: float = 30.0

    def backoff(self, attempt: int) -> float:
        return float(min(self.max_backoff, self.base_wait * 2 ** (attempt - 1)))


class Transport:
    """Sends requests with retries on 5xx, timeouts and rate limits; never sleeps on its own.

    Only a ``repeatable`` request (a read, or a write whose repetition is harmless, such as
    minting a token) is retried when its answer is lost; any other write raises
    :class:`AnswerLost` instead, since GitHub may have applied it. A rate-limit refusal is
    retried either way: GitHub did nothing. ``sleep`` is injected so tests can record the
    waits instead of waiting.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        metrics: Metrics,
        sleep: Sleep = asyncio.sleep,
        wall_clock: Clock = time.time,
        policy: RetryPolicy = RetryPolicy(),
    ) -> None:
        self._session = session
        self._metrics = metrics
        self._sleep = sleep
        self._wall_clock = wall_clock
        self.policy = policy
        self._timeout = aiohttp.ClientTimeout(total=policy.timeout)

    async def send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes,
        *,
        repeatable: bool,
    ) -> tuple[int, Mapping[str, str], bytes]:
        attempt = 0
        while True:
            attempt += 1
            try:
                async with self._session.request(
                    method, url, headers=dict(headers), data=body, timeout=self._timeout
                ) as response:
                    status, response_headers = response.status, response.headers
                    response_body = await response.read()
            except (TimeoutError, aiohttp.ClientError) as exc:
                self._metrics.github_call(method, "error")
                if not repeatable:
                    raise AnswerLost(f"{method} {url}: {exc.__class__.__name__}") from exc
                if attempt >= self.policy.attempts:
                    raise GitHubUnavailable(f"{method} {url}: {exc.__class__.__name__}") from exc
                wait = self.policy.backoff(attempt)
                log.warning("%s %s failed (%s); retrying in %.1fs", method, url, exc, wait)
                await self._sleep(wait)
                continue
            self._metrics.github_call(method, status)
            if status >= 500 and not repeatable:
                raise AnswerLost(f"{method} {url}: answered {status}")
            wait_for = self._retry_wait(status, response_headers, response_body, attempt)
            if wait_for is None or attempt >= self.policy.attempts:
                return status, response_headers, response_body
            log.warning("%s %s answered %d; retrying in %.1fs", method, url, status, wait_for)
            await self._sleep(wait_for)

    def _retry_wait(
        self, status: int, headers: Mapping[str, str], body: bytes, attempt: int
    ) -> float | None:
        """How long to wait before retrying this response, or None if retrying cannot help."""
        if status >= 500:
            return self.policy.backoff(attempt)
        if status not in (403, 429):
            return None
        wait: float | None = None
        retry_after = headers.get("retry-after")
        if retry_after is not None:
            try:
                wait = max(0.0, float(retry_after))
            except ValueError:
                wait = SECONDARY_LIMIT_WAIT
        elif headers.get("x-ratelimit-remaining") == "0" and "x-ratelimit-reset" in headers:
            try:
                wait = max(0.0, float(headers["x-ratelimit-reset"]) - self._wall_clock()) + 1.0
            except ValueError:
                wait = SECONDARY_LIMIT_WAIT
        elif b"secondary rate limit" in body.lower():
            wait = SECONDARY_LIMIT_WAIT
        if wait is None or wait > self.policy.max_rate_limit_wait:
            return None
        return wait


# What gidgethub keeps per URL: (etag, last-modified, decoded JSON, next-page link).
CacheEntry = tuple[str | None, str | None, Any, str | None]
# Added to each entry's size for its key (installation id, URL) and the LRU's bookkeeping.
ENTRY_OVERHEAD = 512


def object_bytes(value: Any) -> int:
    """``sys.getsizeof`` summed over decoded JSON (dicts, lists, tuples, scalars).

    An estimate of what the value holds in memory: strings that the JSON decoder shares
    between objects are counted each time, the allocator's own overhead never.
    """
    total = 0
    stack = [value]
    while stack:
        item = stack.pop()
        total += sys.getsizeof(item)
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return total


def _entry_bytes(entry: CacheEntry) -> int:
    return object_bytes(entry) + ENTRY_OVERHEAD


class EtagCache:
    """GitHub GET responses kept to make conditional requests, for all installations at once.

    One LRU bounded by ``max_bytes`` of estimated memory (:func:`object_bytes` of each
    response plus ``ENTRY_OVERHEAD``), so the bound holds however many installations there
    are; a response larger than the whole bound is not kept. ``max_bytes=0`` keeps nothing.
    Each installation sees only its own entries through :meth:`view` (tokens differ, and
    so may what they can read).
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.entries: LRUCache[tuple[int, str], CacheEntry] = LRUCache(
            max(1, max_bytes), getsizeof=_entry_bytes
        )

    def view(self, installation_id: int) -> MutableMapping[str, CacheEntry] | None:
        return _InstallationEtags(self, installation_id) if self.max_bytes else None

    @property
    def bytes(self) -> int:
        return int(self.entries.currsize)

    def __len__(self) -> int:
        return len(self.entries)


class _InstallationEtags(MutableMapping[str, CacheEntry]):
    """The mapping gidgethub reads and writes: one installation's part of an EtagCache."""

    def __init__(self, cache: EtagCache, installation_id: int) -> None:
        self._entries = cache.entries
        self._installation = installation_id

    def __getitem__(self, url: str) -> CacheEntry:
        return self._entries[(self._installation, url)]

    def __setitem__(self, url: str, entry: CacheEntry) -> None:
        key = (self._installation, url)
        try:
            self._entries[key] = entry
        except ValueError:  # larger than the whole cache: not kept, nor an older version
            self._entries.pop(key, None)

    def __delitem__(self, url: str) -> None:
        del self._entries[(self._installation, url)]

    def __iter__(self) -> Iterator[str]:
        return (url for owner, url in list(self._entries) if owner == self._installation)

    def __len__(self) -> int:
        return sum(1 for owner, _ in self._entries if owner == self._installation)


class AppClient(gh_abc.GitHubAPI):
    """Authenticated as the App itself (a JWT that gidgethub mints and refreshes)."""

    def __init__(self, transport: Transport, *, app_id: str, private_key: str, base_url: str):
        super().__init__(USER_AGENT, app_id=app_id, private_key=private_key, base_url=base_url)
        self._transport = transport

    async def _request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes = b""
    ) -> tuple[int, Mapping[str, str], bytes]:
        # Minting a token twice is harmless, and GET /app is a read.
        return await self._transport.send(method, url, headers, body, repeatable=True)

    async def sleep(self, seconds: float) -> None:  # pragma: no cover - gidgethub API
        await asyncio.sleep(seconds)


@dataclass(frozen=True)
class _Token:
    value: str = ""
    renew_at: float = 0.0


class InstallationTokens:
    """Installation access tokens, reused until shortly before ``expires_at``.

    Concurrent deliveries for one installation share a single request for a new token.
    """

    def __init__(
        self,
        mint: Callable[[int], Awaitable[Mapping[str, Any]]],
        *,
        clock: Clock = time.monotonic,
        wall_clock: Clock = time.time,
        maxsize: int = 10_000,
    ) -> None:
        self._mint = mint
        self._clock = clock
        self._wall_clock = wall_clock
        self._tokens: TLRUCache[int, _Token] = TLRUCache(
            maxsize, ttu=lambda _key, token, _now: token.renew_at, timer=clock
        )
        self._minting: dict[int, asyncio.Task[_Token]] = {}

    async def get(self, installation_id: int) -> str:
        token = self._tokens.get(installation_id)
        if token is not None:
            return token.value
        task = self._minting.get(installation_id)
        if task is None:
            task = asyncio.ensure_future(self._renew(installation_id))
            self._minting[installation_id] = task
            task.add_done_callback(lambda _: self._minting.pop(installation_id, None))
        return (await asyncio.shield(task)).value

    def invalidate(self, installation_id: int, value: str) -> None:
        """Forget a token GitHub refused (revoked, or expired earlier than announced)."""
        token = self._tokens.get(installation_id)
        if token is not None and token.value == value:
            del self._tokens[installation_id]

    async def _renew(self, installation_id: int) -> _Token:
        data = await self._mint(installation_id)
        expires_at = datetime.fromisoformat(str(data["expires_at"]).replace("Z", "+00:00"))
        lifetime = expires_at.timestamp() - self._wall_clock()
        token = _Token(str(data["token"]), self._clock() + lifetime - TOKEN_RENEW_MARGIN)
        if lifetime > TOKEN_RENEW_MARGIN:
            self._tokens[installation_id] = token
        return token


class InstallationClient(gh_abc.GitHubAPI):
    """Acts for one installation during one delivery; fetches its token on first use."""

    def __init__(
        self,
        transport: Transport,
        tokens: InstallationTokens,
        installation_id: int,
        *,
        delivery_id: str,
        base_url: str,
        cache: gh_abc.CACHE_TYPE | None,
        before_write: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        super().__init__(USER_AGENT, cache=cache, base_url=base_url)
        self._transport = transport
        self._tokens = tokens
        self.installation_id = installation_id
        self.delivery_id = delivery_id
        self._before_write = before_write

    async def _request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes = b""
    ) -> tuple[int, Mapping[str, str], bytes]:
        if method != "GET" and self._before_write is not None:
            await self._before_write()  # raises if this delivery may no longer write
        for renewed in (False, True):
            token = await self._tokens.get(self.installation_id)
            authorized = {**headers, "authorization": f"token {token}"}
            status, response_headers, response_body = await self._transport.send(
                method, url, authorized, body, repeatable=method == "GET"
            )
            if status == 401 and not renewed:
                log.info("delivery %s: token refused, renewing it", self.delivery_id)
                self._tokens.invalidate(self.installation_id, token)
                continue
            break
        return status, response_headers, response_body

    async def getiter(
        self,
        url: str,
        url_vars: Mapping[str, variable.VariableValue] | None = None,
        *,
        accept: str = sansio.accept_format(),
        jwt: str | None = None,
        oauth_token: str | None = None,
        extra_headers: dict[str, str] | None = None,
        iterable_key: str | None = gh_abc.ITERABLE_KEY,
    ) -> AsyncGenerator[Any, None]:
        """gidgethub's ``getiter``, bounded: a ``Link`` that leads back to a page already
        read, or on past ``MAX_PAGES``, raises ``UnexpectedAnswer`` (it looped for ever)."""
        read: set[str] = set()
        current: str | None = url
        while current:
            if current in read:
                raise UnexpectedAnswer(f"GitHub's pagination of {url} leads back to a page read")
            if len(read) >= MAX_PAGES:
                raise UnexpectedAnswer(f"GitHub's pagination of {url} goes past {MAX_PAGES} pages")
            read.add(current)
            data, current, _ = await self._make_request(
                "GET",
                current,
                url_vars or {},
                b"",
                accept,
                jwt=jwt,
                oauth_token=oauth_token,
                extra_headers=extra_headers,
            )
            if isinstance(data, dict) and iterable_key in data:
                data = data[iterable_key]
            if not isinstance(data, list):
                raise UnexpectedAnswer(f"GitHub's answer to {url} is not a list")
            for item in data:
                yield item

    async def sleep(self, seconds: float) -> None:  # pragma: no cover - gidgethub API
        await asyncio.sleep(seconds)


class GitHubApp:
    """The process-wide state for talking to GitHub; see the module docstring."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        app_id: str,
        private_key: str,
        api_url: str,
        metrics: Metrics,
        sleep: Sleep = asyncio.sleep,
        clock: Clock = time.monotonic,
        wall_clock: Clock = time.time,
        policy: RetryPolicy = RetryPolicy(),
        etag_cache_bytes: int = 8 * 1024 * 1024,
    ) -> None:
        self.api_url = api_url
        self.transport = Transport(
            session, metrics=metrics, sleep=sleep, wall_clock=wall_clock, policy=policy
        )
        self._app = AppClient(
            self.transport, app_id=app_id, private_key=private_key, base_url=api_url
        )
        self.tokens = InstallationTokens(self._mint, clock=clock, wall_clock=wall_clock)
        self.etags = EtagCache(etag_cache_bytes)
        self._login: asyncio.Task[str] | None = None

    async def bot_login(self) -> str:
        """The login on the App's own reviews and comments (``<slug>[bot]``), from ``GET /app``.

        Asked once per process (a failed answer is asked again by the next caller); only
        what this login wrote is trusted to carry the App's markers.
        """
        task = self._login
        if task is None or (task.done() and (task.cancelled() or task.exception() is not None)):
            task = self._login = asyncio.ensure_future(self._fetch_login())
        return await asyncio.shield(task)

    async def _fetch_login(self) -> str:
        data = await self._app.getitem("/app")
        slug = data.get("slug") if isinstance(data, Mapping) else None
        if not isinstance(slug, str) or not slug:
            raise ValueError("GET /app answered without the App's slug")
        return f"{slug}[bot]"

    def installation(
        self,
        installation_id: int,
        *,
        delivery_id: str,
        before_write: Callable[[], Awaitable[None]] | None = None,
    ) -> InstallationClient:
        """A client for one delivery; ``before_write`` is awaited before each write."""
        return InstallationClient(
            self.transport,
            self.tokens,
            installation_id,
            delivery_id=delivery_id,
            base_url=self.api_url,
            cache=self.etags.view(installation_id),
            before_write=before_write,
        )

    async def _mint(self, installation_id: int) -> Mapping[str, Any]:
        data = await self._app.post(
            "/app/installations/{installation_id}/access_tokens",
            {"installation_id": installation_id},
            data=b"",
        )
        if not isinstance(data, Mapping):
            raise ValueError("unexpected access token response")
        return data

"""The content-addressed cache (:mod:`bot.app.analysis_cache`) in Redis, for worker processes.

In the Redis mode each worker process reads and analyses on its own; what one has read (a
blob's text) or analysed (a file, with the inputs its key names) the others find here, under
``wheelwatch:cache:<key>``, the keys being exactly those of the in-memory cache. Each
process keeps its own :class:`~bot.app.analysis_cache.MemoryCache` in front (a hit there
costs no round trip and no decoding), so Redis is asked only for what this process has not
seen.

What is stored is data: JSON, decoded by msgspec into the engine's own dataclasses and
checked field by field on the way, never pickle (anyone who can write to Redis must not be
able to run code in a worker). A value that does not decode to what the key holds (corrupt,
written by something else, an older layout) is a miss: the next analysis replaces it.

Bounds: Redis's ``maxmemory`` is the operator's. This module adds a time to live to every
entry (a blob's text lasts a week; an analysis a day, since its key names the day it judges
as of) and stores no value over :data:`MAX_VALUE_BYTES`. A Redis that fails or is slow to
answer is a miss and a put that did not happen: the delivery goes on, analysing itself.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import msgspec
import redis.asyncio
from redis.exceptions import RedisError

from bot.app.analysis_cache import (
    AnalysisCache,
    ContentCache,
    MemoryCache,
    Text,
    analysis_size,
    text_size,
)
from bot.engine import Analysis

log = logging.getLogger(__name__)

V = TypeVar("V")

CACHE_PREFIX = "wheelwatch:cache:"
# Larger values stay in the process that made them: a 1 MB workflow is rare, and a few of
# them must not crowd the shared cache.
MAX_VALUE_BYTES = 512 * 1024
TEXT_TTL = 7 * 24 * 3600
ANALYSIS_TTL = 24 * 3600
# A cache that answers slower than this is no help: the delivery reads and analyses itself.
REDIS_SECONDS = 1.0


class RedisCache(Generic[V]):
    """Values of one type under ``wheelwatch:cache:<key>``, each living ``ttl`` seconds."""

    def __init__(
        self, client: redis.asyncio.Redis, decoder: msgspec.json.Decoder[V], *, ttl: int
    ) -> None:
        self._redis = client
        self._decoder = decoder
        self._ttl = ttl
        self._warned_corrupt = False
        self._reachable = True

    async def get(self, key: str) -> V | None:
        try:
            async with asyncio.timeout(REDIS_SECONDS):
                raw = await self._redis.get(CACHE_PREFIX + key)
        except (RedisError, OSError, TimeoutError) as exc:
            self._unreachable(exc)
            return None
        self._reachable = True
        if raw is None:
            return None
        try:
            return self._decoder.decode(raw)
        except msgspec.DecodeError as exc:  # not JSON, or not what this key holds
            if not self._warned_corrupt:
                self._warned_corrupt = True
                log.warning(
                    "analysis cache: the value of %s in Redis is not what its key holds (%s); "
                    "a miss (further such values are not logged)",
                    CACHE_PREFIX + key,
                    exc,
                )
            return None

    async def put(self, key: str, value: V, size: int) -> None:
        raw = msgspec.json.encode(value)
        if len(raw) > MAX_VALUE_BYTES:
            return
        try:
            async with asyncio.timeout(REDIS_SECONDS):
                await self._redis.set(CACHE_PREFIX + key, raw, ex=self._ttl)
        except (RedisError, OSError, TimeoutError) as exc:
            self._unreachable(exc)
            return
        self._reachable = True

    def _unreachable(self, exc: BaseException) -> None:
        if self._reachable:  # once per outage, not once per file
            log.warning("analysis cache: Redis did not answer (%r); reading and analysing", exc)
        self._reachable = False


class Tiered(Generic[V]):
    """This process's cache in front of a shared one: a far hit is kept near too."""

    def __init__(
        self, near: ContentCache[V], far: ContentCache[V], size: Callable[[V], int]
    ) -> None:
        self.near = near
        self.far = far
        self._size = size

    async def get(self, key: str) -> V | None:
        value = await self.near.get(key)
        if value is None:
            value = await self.far.get(key)
            if value is not None:
                await self.near.put(key, value, self._size(value))
        return value

    async def put(self, key: str, value: V, size: int) -> None:
        await self.near.put(key, value, size)
        await self.far.put(key, value, size)


def shared_analysis_cache(client: redis.asyncio.Redis, max_bytes: int) -> AnalysisCache:
    """A worker's cache: ``max_bytes`` in this process (half texts, half analyses), then
    Redis, shared with every worker process."""
    text_decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(Text)
    texts: RedisCache[Text] = RedisCache(client, text_decoder, ttl=TEXT_TTL)
    analyses = RedisCache(client, msgspec.json.Decoder(Analysis), ttl=ANALYSIS_TTL)
    return AnalysisCache(
        Tiered(MemoryCache(max_bytes // 2), texts, text_size),
        Tiered(MemoryCache(max_bytes // 2), analyses, analysis_size),
    )

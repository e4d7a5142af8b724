"""The analysis cache in Redis: what one worker process read and analysed, another reuses;
anything else found under its keys is a miss, and so is a Redis that does not answer."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import redis.asyncio
from fake_github import (
    HEAD_SHA,
    REPO,
    UNSAFE_WORKFLOW,
    FakeGitHub,
    added_patch,
    pull_request_payload,
)
from support import TODAY
from test_app_redis import WORKFLOW, Cluster, cluster, github_factory, open_pull

from bot.app.cache_redis import CACHE_PREFIX, MAX_VALUE_BYTES, shared_analysis_cache
from bot.app.config import AppConfig
from bot.app.metrics import Metrics
from bot.app.snapshot import Analyser
from bot.app.workflows import Repository
from bot.engine import Analysis, FileError
from bot.engine.findings import Finding, Fix, Span, TextEdit

__all__ = ["cluster"]  # the fixture, used by name below

OTHER_SHA = "b" * 40

ANALYSIS = Analysis(
    findings=(
        Finding(
            "WW001",
            "cache-key-ignores-python-build",
            "test",
            "the cache key names the requested Python",
            Span(9, 7, 9, 40),
            Fix("key on the resolved build", (TextEdit(120, 131, "steps.py", Span(9, 7, 9, 18)),)),
            pythons=("3.14-dev",),
            step_key="actions/cache@v4#1",
        ),
    ),
    warnings=(FileError("ignore comment names no rule", 3, 5),),
)


@pytest.fixture
async def store(redis_url: str) -> AsyncIterator[redis.asyncio.Redis]:
    client = redis.asyncio.Redis(unix_socket_path=redis_url.removeprefix("unix://"))
    yield client
    await client.aclose()


def open_second_pull_with_the_same_workflow(github: FakeGitHub) -> None:
    github.add_file(REPO, OTHER_SHA, WORKFLOW, UNSAFE_WORKFLOW)
    patch = added_patch(UNSAFE_WORKFLOW)
    github.add_pull(REPO, 3, [{"filename": WORKFLOW, "status": "added", "patch": patch}])


async def test_a_worker_reuses_what_another_worker_read_and_analysed(
    cluster: Cluster, github: FakeGitHub
) -> None:
    open_pull(github)
    open_second_pull_with_the_same_workflow(github)
    await cluster.deliver("pull_request", pull_request_payload())
    await cluster.work()
    await cluster.deliver("pull_request", pull_request_payload(number=3, head_sha=OTHER_SHA))

    await cluster.work()  # another worker: its own processes, its own memory

    first, second = cluster.analysers
    assert (first.analyses, first.blob_reads) == (1, 1)
    assert (second.analyses, second.blob_reads) == (0, 0)
    assert len(github.reviews(REPO, 3)) == 1  # from the reused analysis: the same finding


async def test_analysis_comes_back_from_redis_as_it_was_stored(
    store: redis.asyncio.Redis,
) -> None:
    await shared_analysis_cache(store, 0).analyses.put("analysis:k", ANALYSIS, 1)

    assert await shared_analysis_cache(store, 0).analyses.get("analysis:k") == ANALYSIS


async def test_text_and_file_error_come_back_from_redis_as_they_were_stored(
    store: redis.asyncio.Redis,
) -> None:
    cache = shared_analysis_cache(store, 0)
    await cache.texts.put("blob:a", "on: push\n", 9)
    await cache.texts.put("blob:b", FileError("the file is not valid UTF-8 (byte 3)"), 1)

    other = shared_analysis_cache(store, 0)
    assert await other.texts.get("blob:a") == "on: push\n"
    assert await other.texts.get("blob:b") == FileError("the file is not valid UTF-8 (byte 3)")


@pytest.mark.parametrize(
    "stored",
    [b"\x80\x04not json", b'{"findings": 3}', b"[1, 2]", b'"a text, not an analysis"'],
    ids=["not-json", "wrong-field-type", "not-an-object", "another-type"],
)
async def test_corrupt_or_foreign_value_is_a_miss(
    store: redis.asyncio.Redis, stored: bytes
) -> None:
    await store.set(CACHE_PREFIX + "analysis:k", stored)

    assert await shared_analysis_cache(store, 0).analyses.get("analysis:k") is None


async def test_corrupt_values_are_logged_once(
    store: redis.asyncio.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    cache = shared_analysis_cache(store, 0)
    await store.set(CACHE_PREFIX + "analysis:a", b"garbage")
    await store.set(CACHE_PREFIX + "analysis:b", b"[]")

    with caplog.at_level(logging.WARNING, logger="bot.app.cache_redis"):
        for key in ("analysis:a", "analysis:b", "analysis:a"):
            await cache.analyses.get(key)

    [record] = caplog.records
    assert "analysis:a" in record.getMessage()


async def test_corrupt_value_is_replaced_by_the_next_analysis(store: redis.asyncio.Redis) -> None:
    cache = shared_analysis_cache(store, 0)
    await store.set(CACHE_PREFIX + "analysis:k", b"garbage")

    await cache.analyses.put("analysis:k", ANALYSIS, 1)

    assert await shared_analysis_cache(store, 0).analyses.get("analysis:k") == ANALYSIS


async def test_value_over_the_size_cap_is_not_stored(store: redis.asyncio.Redis) -> None:
    text = "x" * (MAX_VALUE_BYTES + 1)

    await shared_analysis_cache(store, 0).texts.put("blob:big", text, len(text))

    assert await store.exists(CACHE_PREFIX + "blob:big") == 0


async def test_entries_expire(store: redis.asyncio.Redis) -> None:
    cache = shared_analysis_cache(store, 0)
    await cache.texts.put("blob:a", "on: push\n", 9)
    await cache.analyses.put("analysis:k", ANALYSIS, 1)

    assert 0 < await store.ttl(CACHE_PREFIX + "blob:a") <= 7 * 24 * 3600
    # An analysis's key names its day: a day's life is all it can use.
    assert 0 < await store.ttl(CACHE_PREFIX + "analysis:k") <= 24 * 3600


async def test_redis_down_is_a_miss_and_a_put_fails_silently(tmp_path: Path) -> None:
    down = redis.asyncio.Redis(unix_socket_path=f"{tmp_path}/no-redis.sock")
    cache = shared_analysis_cache(down, 0)

    await cache.analyses.put("analysis:k", ANALYSIS, 1)
    assert await cache.analyses.get("analysis:k") is None
    await down.aclose()


async def test_redis_down_the_commit_is_still_read_and_analysed(
    github: FakeGitHub, app_config: AppConfig, tmp_path: Path
) -> None:
    open_pull(github)
    down = redis.asyncio.Redis(unix_socket_path=f"{tmp_path}/no-redis.sock")
    analyser = Analyser(shared_analysis_cache(down, 0), today=lambda: TODAY)
    installation = int(pull_request_payload()["installation"]["id"])

    async with aiohttp.ClientSession() as session:
        gh = github_factory(session, app_config, Metrics()).installation(
            installation, delivery_id="d"
        )
        snapshot = await analyser.snapshot(gh, Repository.from_full_name(REPO), HEAD_SHA)
    await down.aclose()

    [file] = snapshot.files
    assert file.analysis.findings
    assert analyser.analyses == 1

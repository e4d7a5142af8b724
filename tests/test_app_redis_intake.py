"""The Redis web process's intake: deliveries acknowledged together go to Redis together, and
each still gets its own answer. Against a real redis-server (``redis_fixtures``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import redis.asyncio
from aiohttp.test_utils import TestClient
from arq.connections import ArqRedis
from fake_github import SECRET
from redis.asyncio.connection import Connection

from bot.app.config import AppConfig
from bot.app.queue_redis import RedisIntake, command, delivery_key
from bot.app.replay import webhook_headers
from bot.app.server_redis import REDIS_WEBHOOK, connect, create_redis_app

BODY = b'{"zen": "Keep it logically awesome."}'


@pytest.fixture
async def arq_redis(redis_url: str) -> AsyncIterator[ArqRedis]:
    client = await connect(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def store(redis_url: str) -> AsyncIterator[redis.asyncio.Redis]:
    client = redis.asyncio.Redis(unix_socket_path=redis_url.removeprefix("unix://"))
    yield client
    await client.aclose()


@pytest.fixture
async def web(
    aiohttp_client: Callable[..., Any], app_config: AppConfig, redis_url: str
) -> TestClient:
    config = AppConfig(**{**app_config.__dict__, "redis_url": redis_url, "queue_size": 100})
    client: TestClient = await aiohttp_client(create_redis_app(config))
    return client


async def deliver(web: TestClient, delivery_id: str) -> int:
    headers = webhook_headers(BODY, event="ping", secret=SECRET, delivery_id=delivery_id)
    response = await web.post("/webhook", data=BODY, headers=headers)
    return response.status


async def accept(intake: RedisIntake, delivery_id: str, subject: str | None = None) -> int:
    accepted = await intake.accept(
        event="ping",
        delivery_id=delivery_id,
        content_type="application/json",
        body=BODY,
        subject=subject or f"delivery:{delivery_id}",
    )
    return accepted.arrival


async def leftovers(store: redis.asyncio.Redis) -> list[bytes]:
    """Keys the intake writes on its way and must not leave behind."""
    return [key async for key in store.scan_iter("wheelwatch:staged:*")]


async def test_deliveries_arriving_while_one_is_sent_share_the_next_round_trip(
    arq_redis: ArqRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    intake = RedisIntake(arq_redis, queue_size=100)
    await accept(intake, "first")  # Redis learns the script
    round_trips: list[int] = []
    pipelined = intake._pipelined

    async def counted(batch: Any) -> Any:
        round_trips.append(len(batch))
        return await pipelined(batch)

    monkeypatch.setattr(intake, "_pipelined", counted)

    arrivals = await asyncio.gather(*(accept(intake, f"d{n}") for n in range(20)))

    assert sorted(arrivals) == list(range(2, 22))
    assert round_trips == [1, 19]  # d0 at once, alone; the 19 behind it together


def test_commands_are_encoded_as_redis_py_encodes_them() -> None:
    packed = Connection().pack_command("EVALSHA", "f00", 1, "wheelwatch:é", b"\x00\r\n", "")

    assert command(b"EVALSHA", b"f00", b"1", "wheelwatch:é".encode(), b"\x00\r\n", b"") == (
        b"".join(packed)
    )


async def test_lone_delivery_is_sent_by_its_own_caller(
    arq_redis: ArqRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Nothing to wait for: no sender task of its own (its cost was most of a lone delivery's
    # bookkeeping, bench/README.md).
    intake = RedisIntake(arq_redis, queue_size=100)
    senders: list[asyncio.Task[Any] | None] = []
    pipelined = intake._pipelined

    async def recorded(batch: Any) -> Any:
        senders.append(asyncio.current_task())
        return await pipelined(batch)

    monkeypatch.setattr(intake, "_pipelined", recorded)
    caller = asyncio.ensure_future(accept(intake, "lone"))

    assert await caller == 1
    assert senders == [caller]


async def test_deliveries_behind_a_lone_one_whose_caller_gave_up_are_still_sent(
    arq_redis: ArqRedis, store: redis.asyncio.Redis
) -> None:
    intake = RedisIntake(arq_redis, queue_size=100)
    lone = asyncio.ensure_future(accept(intake, "lone"))
    await asyncio.sleep(0)  # on its way to Redis
    behind = asyncio.ensure_future(accept(intake, "behind"))
    await asyncio.sleep(0)  # waiting for the next round trip
    lone.cancel()

    assert await behind in (1, 2)  # whether the lone one's script ran or not
    assert lone.cancelled()
    assert await store.exists(delivery_key("behind")) == 1


async def test_duplicate_within_one_batch_is_accepted_once(
    arq_redis: ArqRedis, store: redis.asyncio.Redis
) -> None:
    intake = RedisIntake(arq_redis, queue_size=100)

    arrivals = await asyncio.gather(accept(intake, "d1"), accept(intake, "d1"))

    assert sorted(arrivals) == [0, 1]
    assert await store.zcard("arq:queue") == 1
    assert await leftovers(store) == []


async def test_batch_past_the_queue_bound_refuses_only_what_does_not_fit(
    arq_redis: ArqRedis, store: redis.asyncio.Redis
) -> None:
    intake = RedisIntake(arq_redis, queue_size=2)

    arrivals = await asyncio.gather(*(accept(intake, f"d{n}") for n in range(3)))

    assert arrivals == [1, 2, -1]
    assert await store.exists(delivery_key("d2")) == 0
    assert await store.zcard("arq:queue") == 2
    assert await leftovers(store) == []


async def test_later_delivery_in_one_batch_replaces_the_earlier_about_its_subject(
    arq_redis: ArqRedis, store: redis.asyncio.Redis
) -> None:
    intake = RedisIntake(arq_redis, queue_size=100)

    first, second = await asyncio.gather(
        *(
            intake.accept(
                event="pull_request",
                delivery_id=delivery_id,
                content_type="application/json",
                body=BODY,
                subject="o/r#2",
            )
            for delivery_id in ("d1", "d2")
        )
    )

    assert (first.arrival, first.replaced_id) == (1, None)
    assert (second.arrival, second.replaced_id) == (2, "d1")
    assert await store.zrange("arq:queue", 0, -1) == [b"d2"]
    assert await leftovers(store) == []


async def test_scripts_redis_forgot_are_loaded_again(
    arq_redis: ArqRedis, store: redis.asyncio.Redis
) -> None:
    intake = RedisIntake(arq_redis, queue_size=100)
    await accept(intake, "before")
    await store.script_flush()  # as a restarted Redis has no scripts

    arrivals = await asyncio.gather(*(accept(intake, f"d{n}") for n in range(3)))

    assert sorted(arrivals) == [2, 3, 4]
    assert await store.zcard("arq:queue") == 4
    assert await leftovers(store) == []


async def test_connection_redis_closed_between_deliveries_is_replaced(
    arq_redis: ArqRedis, store: redis.asyncio.Redis
) -> None:
    intake = RedisIntake(arq_redis, queue_size=100)
    await accept(intake, "before")
    # As Redis's idle timeout or a restart would: the intake's connection is closed under it.
    await store.client_kill_filter(_type="normal", skipme=True)

    assert await accept(intake, "after") == 2
    assert await store.exists(delivery_key("after")) == 1


async def test_unreachable_redis_fails_every_delivery_of_the_batch(tmp_path: Any) -> None:
    gone = redis.asyncio.Redis(unix_socket_path=str(tmp_path / "no-redis.sock"))
    intake = RedisIntake(gone, queue_size=100)  # type: ignore[arg-type]

    results = await asyncio.gather(
        *(accept(intake, f"d{n}") for n in range(3)), return_exceptions=True
    )

    assert [type(result) for result in results] == [redis.ConnectionError] * 3
    await gone.aclose()


async def test_delivery_whose_caller_gave_up_before_it_was_sent_is_left_out(
    arq_redis: ArqRedis, store: redis.asyncio.Redis
) -> None:
    intake = RedisIntake(arq_redis, queue_size=100)
    lone = asyncio.ensure_future(accept(intake, "lone"))  # sent at once
    abandoned = asyncio.ensure_future(accept(intake, "gone"))
    kept = asyncio.ensure_future(accept(intake, "kept"))
    await asyncio.sleep(0)  # both wait behind the lone one, for the next round trip
    abandoned.cancel()

    assert await lone == 1
    assert await kept == 2
    assert abandoned.cancelled()
    assert await store.exists(delivery_key("gone")) == 0


async def test_web_process_answers_503_to_every_delivery_while_redis_is_unreachable(
    web: TestClient, tmp_path: Any
) -> None:
    app = web.server.app
    assert app is not None
    gone = redis.asyncio.Redis(unix_socket_path=str(tmp_path / "no-redis.sock"))
    app[REDIS_WEBHOOK].intake = RedisIntake(gone, queue_size=100)  # type: ignore[arg-type]

    statuses = await asyncio.gather(*(deliver(web, f"d{n}") for n in range(3)))

    assert statuses == [503] * 3
    await gone.aclose()


async def test_concurrent_deliveries_to_the_web_process_are_each_accepted_once(
    web: TestClient, store: redis.asyncio.Redis
) -> None:
    statuses = await asyncio.gather(*(deliver(web, f"d{n % 10}") for n in range(20)))

    assert sorted(statuses) == [200] * 10 + [202] * 10
    assert await store.zcard("arq:queue") == 10
    assert await leftovers(store) == []


async def test_healthz_answers_503_while_redis_is_unreachable(
    web: TestClient, tmp_path: Any
) -> None:
    app = web.server.app
    assert app is not None
    gone = redis.asyncio.Redis(unix_socket_path=str(tmp_path / "no-redis.sock"))
    app[REDIS_WEBHOOK].intake = RedisIntake(gone, queue_size=100)  # type: ignore[arg-type]

    response = await web.get("/healthz")

    assert response.status == 503
    assert await response.json() == {"status": "redis unavailable"}
    await gone.aclose()


async def test_full_redis_is_answered_503_and_the_redelivery_is_accepted_once_it_has_room(
    web: TestClient, store: redis.asyncio.Redis
) -> None:
    # docs/app.md asks for maxmemory-policy noeviction: a full Redis then refuses writes, and
    # the delivery must fail visibly (GitHub records it, to be redelivered), not vanish.
    used = int((await store.info("memory"))["used_memory"])
    await store.config_set("maxmemory-policy", "noeviction")
    await store.config_set("maxmemory", str(used))
    try:
        refused = await deliver(web, "d-full")
    finally:
        await store.config_set("maxmemory", "0")

    assert refused == 503
    assert await store.exists(delivery_key("d-full")) == 0
    assert await deliver(web, "d-full") == 202
    assert await leftovers(store) == []

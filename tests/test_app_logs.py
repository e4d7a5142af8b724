"""Logs: every line about a delivery names it, refused signatures are logged, JSON on demand."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio
from app_fixtures import Bot
from fake_github import REPO, SECRET, FakeGitHub, pull_request_payload
from served import serve

from bot.app.config import AppConfig
from bot.app.log_format import DELIVERY, DeliveryField, JsonLines
from bot.app.queue_redis import RedisIntake
from bot.app.replay import webhook_headers
from bot.app.server import SERVICE
from bot.app.server_redis import REDIS_WEBHOOK, create_redis_app


@pytest.fixture
def delivery_field(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.handler.addFilter(DeliveryField())
    caplog.set_level(logging.INFO)
    return caplog


async def test_github_retries_are_logged_with_the_delivery_they_serve(
    bot: Bot, github: FakeGitHub, delivery_field: pytest.LogCaptureFixture
) -> None:
    github.add_pull(REPO, 2, [])
    github.fail("GET", r"/pulls/2/files", 502)

    await bot.deliver("pull_request", pull_request_payload(), delivery_id="d-42")
    await bot.settle()

    retries = [r for r in delivery_field.records if "retrying" in r.getMessage()]
    assert retries, delivery_field.text
    assert {getattr(r, "delivery", None) for r in retries} == {"d-42"}


async def test_refused_signature_is_logged(
    bot: Bot, delivery_field: pytest.LogCaptureFixture
) -> None:
    response = await bot.deliver("ping", {"zen": "x"}, delivery_id="d-7", secret="wrong")

    assert response.status == 401
    [line] = [r.getMessage() for r in delivery_field.records if "SECRET" in r.getMessage()]
    assert "'d-7'" in line


async def test_refused_signature_is_logged_with_the_delivery_id_it_claims(
    bot: Bot, delivery_field: pytest.LogCaptureFixture
) -> None:
    await bot.deliver("ping", {"zen": "x"}, delivery_id="d-7", secret="wrong")

    assert named(delivery_field, "X-Hub-Signature-256 does not match") == {"d-7"}


async def test_refused_signature_with_a_delivery_id_that_could_break_a_line_leaves_the_field(
    bot: Bot, delivery_field: pytest.LogCaptureFixture
) -> None:
    # Unsigned headers: only an id as GitHub writes them goes into the field, as is.
    await bot.deliver("ping", {"zen": "x"}, delivery_id="d-7 [forged] x", secret="wrong")

    assert named(delivery_field, "X-Hub-Signature-256 does not match") == {"-"}


def test_json_lines_hold_the_delivery_and_the_message() -> None:
    record = logging.LogRecord("bot.app", logging.WARNING, __file__, 1, "a %s", ("b",), None)
    token = DELIVERY.set("d-1")
    try:
        DeliveryField().filter(record)
    finally:
        DELIVERY.reset(token)

    entry = json.loads(JsonLines().format(record))

    assert (entry["delivery"], entry["message"], entry["level"]) == ("d-1", "a b", "WARNING")


def named(caplog: pytest.LogCaptureFixture, words: str) -> set[str]:
    """The delivery field of each line whose message holds ``words``."""
    return {getattr(r, "delivery", "?") for r in caplog.records if words in r.getMessage()}


async def test_delivery_skipped_after_its_ack_is_logged_with_its_own_id_not_the_last_ones(
    make_bot: Callable[..., Any], github: FakeGitHub, delivery_field: pytest.LogCaptureFixture
) -> None:
    bot: Bot = await make_bot(workers=1)  # one worker task serves both deliveries in turn
    github.add_pull(REPO, 2, [])
    await bot.deliver("pull_request", pull_request_payload(), delivery_id="d-good")
    await bot.settle()
    # Accepted (the acknowledgement does not read "x"), refused by the worker's full decode.
    bad = json.dumps(pull_request_payload(number=3))[:-1].encode() + b', "x": 1e400}'

    await bot.deliver("pull_request", bad, delivery_id="d-bad")
    await bot.settle()

    assert named(delivery_field, "expected a JSON body; skipped") == {"d-bad"}


async def test_delivery_replaced_in_the_embedded_queue_is_logged_with_its_id(
    make_bot: Callable[..., Any], github: FakeGitHub, delivery_field: pytest.LogCaptureFixture
) -> None:
    bot: Bot = await make_bot(workers=1)
    github.add_pull(REPO, 2, [])
    arrived, release = github.hold(r"/pulls/9/files")  # keeps the one worker busy
    await bot.deliver("pull_request", pull_request_payload(number=9), delivery_id="d-busy")
    await arrived.wait()
    delivery_field.set_level(logging.DEBUG)

    await bot.deliver("pull_request", pull_request_payload(), delivery_id="d-old")
    await bot.deliver("pull_request", pull_request_payload("synchronize"), delivery_id="d-new")
    release.set()
    await bot.settle()

    assert named(delivery_field, "replaced in the queue") == {"d-old"}


async def test_deliveries_the_drain_did_not_start_are_logged_with_their_ids(
    make_bot: Callable[..., Any], github: FakeGitHub, delivery_field: pytest.LogCaptureFixture
) -> None:
    bot: Bot = await make_bot(drain_seconds=0, workers=1, queue_size=4)
    github.add_pull(REPO, 2, [])
    arrived, release = github.hold(r"/pulls/2/files")
    await bot.deliver("pull_request", pull_request_payload(), delivery_id="d-running")
    await arrived.wait()
    await bot.deliver("pull_request", pull_request_payload(number=3), delivery_id="d-waiting")

    await asyncio.wait_for(bot.client.close(), 10)  # SIGTERM's drain, then the exit
    release.set()

    assert named(delivery_field, "not started before the shutdown") == {"d-waiting"}


async def test_run_again_the_drain_did_not_start_is_logged_with_its_id(
    make_bot: Callable[..., Any], github: FakeGitHub, delivery_field: pytest.LogCaptureFixture
) -> None:
    bot: Bot = await make_bot(rerun_delays=(600.0,))
    github.add_pull(REPO, 2, [])
    github.fail("GET", r"/pulls/2/files", 502, times=5)
    await bot.deliver("pull_request", pull_request_payload(), delivery_id="d-1")
    await bot.app[SERVICE].queue.join()  # its first run failed; it waits to run again

    await asyncio.wait_for(bot.client.close(), 10)  # SIGTERM's drain, then the exit

    assert named(delivery_field, "run again was not started") == {"d-1"}


async def test_redis_web_process_logs_a_delivery_it_could_not_enqueue_with_its_id(
    aiohttp_client: Callable[..., Any],
    app_config: AppConfig,
    redis_url: str,
    tmp_path: Path,
    delivery_field: pytest.LogCaptureFixture,
) -> None:
    config = AppConfig(**{**app_config.__dict__, "redis_url": redis_url})
    web = await aiohttp_client(create_redis_app(config))
    gone = redis.asyncio.Redis(unix_socket_path=str(tmp_path / "no-redis.sock"))
    web.server.app[REDIS_WEBHOOK].intake = RedisIntake(gone, queue_size=10)  # type: ignore[arg-type]
    body = json.dumps(pull_request_payload()).encode()
    headers = webhook_headers(body, event="pull_request", secret=SECRET, delivery_id="d-9")

    response = await web.post("/webhook", data=body, headers=headers)

    assert response.status == 503
    assert named(delivery_field, "Redis unavailable") == {"d-9"}
    await gone.aclose()


async def test_redis_web_process_logs_a_delivery_replaced_in_the_queue_with_its_id(
    aiohttp_client: Callable[..., Any],
    app_config: AppConfig,
    redis_url: str,
    delivery_field: pytest.LogCaptureFixture,
) -> None:
    config = AppConfig(**{**app_config.__dict__, "redis_url": redis_url})
    web = await aiohttp_client(create_redis_app(config))
    delivery_field.set_level(logging.DEBUG)
    for delivery_id, action in (("d-old", "opened"), ("d-new", "synchronize")):
        body = json.dumps(pull_request_payload(action)).encode()
        headers = webhook_headers(
            body, event="pull_request", secret=SECRET, delivery_id=delivery_id
        )
        assert (await web.post("/webhook", data=body, headers=headers)).status == 202

    assert named(delivery_field, "replaced in the queue") == {"d-old"}


async def test_serve_logs_json_lines_and_at_most_five_refused_signatures_per_ten_seconds(
    github: FakeGitHub, rsa_keys: tuple[str, str]
) -> None:
    served = await serve(github, rsa_keys[0], WHEELWATCH_LOG_FORMAT="json")
    body = b'{"zen": "x"}'
    async with aiohttp.ClientSession() as session:
        for n in range(12):  # a wrong secret: every delivery refused
            headers = webhook_headers(body, event="ping", secret="wrong", delivery_id=f"d-{n}")
            async with session.post(f"{served.url}/webhook", data=body, headers=headers) as r:
                assert r.status == 401
    served.process.send_signal(signal.SIGTERM)
    await served.exit()

    entries = [json.loads(line) for line in served.log.decode().splitlines()]  # each one JSON
    refused = [e for e in entries if "does not match GITHUB_WEBHOOK_SECRET" in e["message"]]
    assert [e["level"] for e in refused] == ["WARNING"] * 5
    assert all("delivery" in entry for entry in entries)

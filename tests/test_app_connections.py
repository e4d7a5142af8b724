"""Open connections are bounded: a request's headers have a deadline, and past the cap the
oldest connection still sending its headers makes way (issue #9, item 6). Real sockets on
loopback; each test awaits the server's answer or its closing of the socket."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from fake_github import SECRET, FakeGitHub, webhook
from served import serve

from bot.app.config import AppConfig
from bot.app.connections import ConnectionGuard, connection_cap, serve_guarded
from bot.app.replay import webhook_headers
from bot.app.server import METRICS, SERVICE, create_app

# The start of a request whose headers never end.
HALF_SENT = b"POST /webhook HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: pi"
# Answers and closings arrive well within this; it only stops a broken test from hanging.
PATIENCE = 10


def ping_request(*, close: bool = False) -> bytes:
    body = json.dumps(webhook("ping.4")).encode()
    headers = webhook_headers(body, event="ping", secret=SECRET)
    headers["Content-Length"] = str(len(body))
    if close:
        headers["Connection"] = "close"
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    return f"POST /webhook HTTP/1.1\r\nHost: x\r\n{head}\r\n".encode() + body


async def until_closed(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sends until it closes the connection."""
    try:
        return await asyncio.wait_for(reader.read(), PATIENCE)
    except ConnectionResetError:
        return b""


async def until(predicate: Callable[[], bool]) -> None:
    async def poll() -> None:
        while not predicate():
            await asyncio.sleep(0)  # yield to the server, which runs on this loop

    await asyncio.wait_for(poll(), PATIENCE)


@dataclass
class Guarded:
    """The embedded App listening through a ConnectionGuard on a loopback port."""

    app: web.Application
    port: int
    writers: list[asyncio.StreamWriter] = field(default_factory=list)

    async def connect(
        self, first_bytes: bytes = b""
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", self.port), PATIENCE
        )
        self.writers.append(writer)
        if first_bytes:
            writer.write(first_bytes)
            await writer.drain()
        return reader, writer

    def closed(self, reason: str) -> int:
        sample = self.app[METRICS].registry.get_sample_value(
            "wheelwatch_connections_closed_total", {"reason": reason}
        )
        return int(sample or 0)


@pytest.fixture
async def start_guarded(app_config: AppConfig) -> AsyncIterator[Callable[..., Awaitable[Guarded]]]:
    runners: list[web.AppRunner] = []
    started: list[Guarded] = []

    async def start(
        *, max_connections: int = 64, header_seconds: float = 0.2, **config_changes: Any
    ) -> Guarded:
        config = AppConfig(**{**app_config.__dict__, **config_changes})
        app = create_app(config)
        guard = ConnectionGuard(
            max_connections=max_connections, header_seconds=header_seconds, metrics=app[METRICS]
        )
        runner = await serve_guarded(app, guard, host="127.0.0.1", port=0)
        runners.append(runner)
        guarded = Guarded(app, runner.addresses[0][1])
        started.append(guarded)
        return guarded

    yield start
    for guarded in started:
        for writer in guarded.writers:
            writer.close()
    for runner in runners:
        await runner.cleanup()


async def test_connection_that_does_not_finish_its_headers_in_time_is_closed_and_counted(
    start_guarded: Callable[..., Awaitable[Guarded]],
) -> None:
    guarded = await start_guarded(header_seconds=0.2)
    reader, _ = await guarded.connect(HALF_SENT)

    answer = await until_closed(reader)

    assert answer == b""
    assert guarded.closed("header_timeout") == 1


async def test_connection_that_sends_nothing_is_closed_after_the_header_timeout(
    start_guarded: Callable[..., Awaitable[Guarded]],
) -> None:
    guarded = await start_guarded(header_seconds=0.2)
    reader, _ = await guarded.connect()

    answer = await until_closed(reader)

    assert answer == b""
    assert guarded.closed("header_timeout") == 1


async def test_kept_alive_connection_is_closed_once_idle_for_the_header_timeout(
    start_guarded: Callable[..., Awaitable[Guarded]],
) -> None:
    guarded = await start_guarded(header_seconds=0.2)
    reader, _ = await guarded.connect(ping_request())

    answered = await until_closed(reader)

    assert answered.startswith(b"HTTP/1.1 202")
    assert (guarded.closed("idle"), guarded.closed("header_timeout")) == (1, 0)


async def test_request_whose_headers_are_complete_is_left_to_the_body_timeout(
    start_guarded: Callable[..., Awaitable[Guarded]],
) -> None:
    guarded = await start_guarded(header_seconds=0.2, body_seconds=1.0)
    reader, _ = await guarded.connect(ping_request()[:-10])

    answered = await until_closed(reader)

    assert answered.startswith(b"HTTP/1.1 408")
    assert guarded.closed("header_timeout") == 0


async def test_past_the_cap_the_oldest_connection_still_sending_headers_makes_way(
    start_guarded: Callable[..., Awaitable[Guarded]],
) -> None:
    guarded = await start_guarded(max_connections=3, header_seconds=PATIENCE * 3)
    oldest, _ = await guarded.connect(HALF_SENT)
    for _ in range(2):
        await guarded.connect(HALF_SENT)

    delivery, _ = await guarded.connect(ping_request(close=True))
    answered = await until_closed(delivery)

    assert answered.startswith(b"HTTP/1.1 202")
    assert await until_closed(oldest) == b""
    assert guarded.closed("evicted") == 1


async def test_past_the_cap_with_every_connection_in_a_request_a_new_one_is_closed_at_once(
    start_guarded: Callable[..., Awaitable[Guarded]],
) -> None:
    guarded = await start_guarded(max_connections=2, header_seconds=0.2, body_seconds=PATIENCE * 3)
    for _ in range(2):  # headers complete, bodies still coming: both are being read
        await guarded.connect(ping_request()[:-10])
    await until(lambda: guarded.app[SERVICE].bodies.reads == 2)

    refused, _ = await guarded.connect(ping_request())

    assert await until_closed(refused) == b""
    assert guarded.closed("refused") == 1


async def test_closed_connections_are_logged_a_few_times_then_summed_up(
    start_guarded: Callable[..., Awaitable[Guarded]], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.app.connections")
    guarded = await start_guarded(header_seconds=0.2)
    readers = [(await guarded.connect(HALF_SENT))[0] for _ in range(12)]

    for reader in readers:
        await until_closed(reader)

    lines = [r for r in caplog.records if r.name == "bot.app.connections"]
    assert guarded.closed("header_timeout") == 12
    assert len(lines) == 5


def test_the_connection_cap_leaves_half_the_file_descriptors_to_the_rest_of_the_process() -> None:
    assert (connection_cap(512, 20_000), connection_cap(512, 256)) == (512, 128)


async def test_a_delivery_is_acknowledged_while_half_sent_requests_exceed_the_fd_limit(
    github: FakeGitHub, rsa_keys: tuple[str, str]
) -> None:
    served = await serve(github, rsa_keys[0], fd_limit=128)
    stalled = []
    try:
        for _ in range(150):
            _, writer = await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", served.port), PATIENCE
            )
            writer.write(HALF_SENT)
            stalled.append(writer)
        body = json.dumps(webhook("ping.4")).encode()
        headers = webhook_headers(body, event="ping", secret=SECRET)
        timeout = aiohttp.ClientTimeout(total=PATIENCE)
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.post(f"{served.url}/webhook", data=body, headers=headers) as answer,
        ):
            status = answer.status
    finally:
        for writer in stalled:
            writer.close()
        served.process.terminate()
        await served.exit()

    assert status == 202, served.log.decode()[-2000:]
    assert b"Running on http://127.0.0.1:" in served.log
    assert b"(at most 64 connections" in served.log  # half the descriptors, not 512


async def test_the_redis_web_process_closes_a_connection_that_does_not_finish_its_headers(
    github: FakeGitHub, rsa_keys: tuple[str, str], redis_url: str
) -> None:
    served = await serve(
        github, rsa_keys[0], WHEELWATCH_REDIS_URL=redis_url, WHEELWATCH_HEADER_SECONDS="1"
    )
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
        writer.write(HALF_SENT)
        answer = await until_closed(reader)
        writer.close()
    finally:
        served.process.terminate()
        await served.exit()

    assert answer == b""


async def test_open_connections_are_shown_in_the_metrics(
    start_guarded: Callable[..., Awaitable[Guarded]],
) -> None:
    guarded = await start_guarded(header_seconds=PATIENCE * 3)
    for _ in range(2):
        await guarded.connect(HALF_SENT)

    reader, _ = await guarded.connect(
        b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    exposition = await until_closed(reader)

    assert b"\nwheelwatch_open_connections 3.0\n" in exposition  # the two, and this one

"""What anyone who can reach the URL can make the server do: refusals are cheap, bounded and
logged in one line (issue #9, items 5 to 7)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

import pytest
from app_fixtures import Bot
from fake_github import SECRET, pull_request_payload

from bot.app.replay import signature
from bot.app.server import SERVICE


async def test_signed_deeply_nested_json_is_a_bad_request(bot: Bot) -> None:
    body = b'{"zen": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"

    response = await bot.deliver("ping", body)

    assert response.status == 400


@pytest.mark.parametrize("constant", ["Infinity", "-Infinity", "NaN"])
async def test_signed_json_with_a_non_standard_number_is_a_bad_request(
    bot: Bot, constant: str
) -> None:
    payload = json.dumps(pull_request_payload()).replace('"number": 2', f'"number": {constant}')

    response = await bot.deliver("pull_request", payload.encode())

    assert response.status == 400


async def test_oversized_header_is_refused_with_one_log_line_and_no_traceback(
    bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    host, port = bot.client.server.host, bot.client.server.port
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(b"POST /webhook HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n")
    await writer.drain()
    status_line = await reader.readline()
    writer.close()

    assert status_line.split()[1].startswith(b"4")
    [record] = [r for r in caplog.records if r.name == "aiohttp.server"]
    assert record.exc_info is None
    assert "\n" not in record.getMessage()


async def raw_request(bot: Bot, head: bytes, body: bytes = b"") -> bytes:
    """Send ``head`` and the start of a body, and return the status line the server answers
    with, without sending the rest (a slow or stalled client)."""
    host, port = bot.client.server.host, bot.client.server.port
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(head + body)
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.readline(), 10)
    finally:
        writer.close()


def post_head(length: int, signature: str = "sha256=" + "0" * 64) -> bytes:
    return (
        "POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"X-GitHub-Event: ping\r\nX-GitHub-Delivery: d-1\r\nX-Hub-Signature-256: {signature}\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


async def test_malformed_signature_header_is_refused_before_the_body_is_read(bot: Bot) -> None:
    status = await raw_request(bot, post_head(100_000, signature="sha1=abc"), b"{")

    assert status.split()[1] == b"401"


async def test_body_that_stops_arriving_is_refused_after_the_read_timeout(
    make_bot: Callable[..., Any],
) -> None:
    bot: Bot = await make_bot(body_seconds=0.2)

    status = await raw_request(bot, post_head(100_000), b'{"zen": "')

    assert status.split()[1] == b"408"


async def test_body_larger_than_the_free_buffer_budget_is_refused_before_reading(
    make_bot: Callable[..., Any],
) -> None:
    bot: Bot = await make_bot(buffered_bytes=100 * 1024)

    status = await raw_request(bot, post_head(200 * 1024), b"{")

    assert status.split()[1] == b"503"


async def test_body_reads_beyond_the_concurrent_bound_are_refused_at_once(
    make_bot: Callable[..., Any],
) -> None:
    bot: Bot = await make_bot(body_reads=1)
    host, port = bot.client.server.host, bot.client.server.port
    _, stalled = await asyncio.open_connection(host, port)
    stalled.write(post_head(100_000) + b"{")
    await stalled.drain()
    reader = bot.app[SERVICE].bodies
    for _ in range(1000):  # until the server has started reading the stalled body
        if reader.reads:
            break
        await asyncio.sleep(0)

    status = await raw_request(bot, post_head(10), b"{")
    stalled.close()

    assert reader.reads == 1
    assert status.split()[1] == b"503"


async def signed_in_two_parts(bot: Bot, body: bytes, signed: bytes) -> bytes:
    """Post ``body`` signed as ``signed``: half of it, then (once the server is reading it,
    so that it cannot have arrived whole) the rest; the answer's status line."""
    host, port = bot.client.server.host, bot.client.server.port
    reader, writer = await asyncio.open_connection(host, port)
    head = post_head(len(body), signature=signature(signed, SECRET))
    writer.write(head + body[: len(body) // 2])
    await writer.drain()
    bodies = bot.app[SERVICE].bodies
    for _ in range(1000):  # until the server has started reading the body
        if bodies.reads:
            break
        await asyncio.sleep(0)
    assert bodies.reads == 1
    writer.write(body[len(body) // 2 :])
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.readline(), 10)
    finally:
        writer.close()


async def test_signed_body_that_arrives_in_parts_is_verified_as_it_arrives(bot: Bot) -> None:
    body = json.dumps({"zen": "x" * 10_000}).encode()

    status = await signed_in_two_parts(bot, body, body)

    assert status.split()[1] == b"202"


async def test_body_whose_second_part_differs_from_what_was_signed_is_refused(bot: Bot) -> None:
    body = json.dumps({"zen": "x" * 10_000}).encode()

    status = await signed_in_two_parts(bot, body, body.replace(b'x"}', b'y"}'))

    assert status.split()[1] == b"401"

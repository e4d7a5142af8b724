"""What anyone who can reach the URL can make the server do: refusals are cheap, bounded and
logged in one line (issue #9, items 5 to 7)."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from app_fixtures import Bot
from fake_github import pull_request_payload


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

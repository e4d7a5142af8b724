"""Hostile or odd webhook input: a 4xx or a logged skip, never a 500, never a crash.

tests/test_app_webhook.py covers the single refusals (signature, size, JSON, one missing
header, unknown events, a payload without ``installation`` or ``head``); these go wider: every
example payload in ../shared/fixtures/webhooks, systematically mutated pull_request payloads,
and the remaining header and transport cases.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from app_fixtures import Bot
from fake_github import REPO, SECRET, WEBHOOKS, FakeGitHub, pull_request_payload

from bot.app.replay import signature, webhook_headers
from bot.app.server import SERVICE

# What a delivery may end as; "error" (an unexpected exception) is not among them.
HANDLED = {"processed", "skipped", "malformed", "ignored", "github_error", "superseded"}


def outcomes(bot: Bot) -> set[str]:
    return {
        outcome
        for (_, outcome), count in bot.app[SERVICE].metrics.deliveries.items()
        if count and outcome not in ("accepted", "duplicate") and not outcome.startswith("refused")
    }


@pytest.fixture
async def roomy_bot(make_bot: Callable[..., Any]) -> Bot:
    made: Bot = await make_bot(workers=4, queue_size=512)
    return made


async def test_every_example_payload_is_handled_without_a_server_error(
    roomy_bot: Bot, github: FakeGitHub
) -> None:
    index = json.loads((WEBHOOKS / "index.json").read_text())
    statuses = {}
    for entry in index["files"]:
        body = (WEBHOOKS / entry["file"]).read_bytes()
        response = await roomy_bot.client.post(
            "/webhook",
            data=body,
            headers=webhook_headers(body, event=entry["x_github_event"], secret=SECRET),
        )
        statuses[entry["file"]] = response.status
    await roomy_bot.settle()

    assert len(statuses) == len(list(WEBHOOKS.glob("*.*.json")))
    assert set(statuses.values()) <= {200, 202}, statuses
    assert outcomes(roomy_bot) <= HANDLED
    # The examples lacking an installation were skipped, not sent to GitHub without a token.
    assert roomy_bot.app[SERVICE].metrics.deliveries[("pull_request", "skipped")] >= 1


def mutations(data: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Each top-level and ``pull_request`` field deleted, nulled, or replaced by a wrong type
    or by an integer beyond 64 bits."""
    for path in [(key,) for key in data] + [("pull_request", key) for key in data["pull_request"]]:
        for change in ("delete", None, "text", [], {}, -1, 2**64 + 1):
            mutated = json.loads(json.dumps(data))
            parent = mutated
            for key in path[:-1]:
                parent = parent[key]
            if change == "delete":
                del parent[path[-1]]
            else:
                parent[path[-1]] = change
            yield f"{'.'.join(path)}={change!r}", mutated


async def test_mutated_pull_request_payloads_are_skipped_or_processed_never_crash(
    roomy_bot: Bot, github: FakeGitHub
) -> None:
    github.add_pull(REPO, 2, [])
    statuses: dict[str, int] = {}
    for label, data in mutations(pull_request_payload()):
        response = await roomy_bot.deliver("pull_request", data)
        statuses[label] = response.status
        if roomy_bot.app[SERVICE].queue.qsize() > 400:
            await roomy_bot.settle()
    await roomy_bot.settle()

    assert len(statuses) > 300
    assert set(statuses.values()) <= {200, 202, 400}, statuses
    # Only an action that is not a string is refused outright; the rest are queued and then skipped.
    refused = {k for k, v in statuses.items() if v == 400}
    assert refused == {
        "action=None",
        "action=[]",
        "action={}",
        "action=-1",
        "action=18446744073709551617",
    }
    assert outcomes(roomy_bot) <= HANDLED, roomy_bot.app[SERVICE].metrics.deliveries


async def test_top_level_values_that_are_not_objects_are_bad_requests(roomy_bot: Bot) -> None:
    for body in (b"null", b"42", b'"text"', b"[]", b"true"):
        response = await roomy_bot.deliver("pull_request", body)
        assert response.status == 400, body


@pytest.mark.parametrize(
    ("drop", "status"),
    [
        ("X-GitHub-Delivery", 400),
        ("X-GitHub-Event", 400),
        ("Content-Type", 400),
        ("X-Hub-Signature-256", 401),
    ],
)
async def test_each_missing_header_is_a_client_error(
    roomy_bot: Bot, github: FakeGitHub, drop: str, status: int
) -> None:
    body = json.dumps(pull_request_payload()).encode()
    headers = webhook_headers(body, event="pull_request", secret=SECRET)
    del headers[drop]

    response = await roomy_bot.client.post("/webhook", data=body, headers=headers)

    assert response.status == status
    assert github.calls == []


async def test_sha1_signature_alone_is_not_accepted(roomy_bot: Bot) -> None:
    body = json.dumps(pull_request_payload()).encode()
    headers = webhook_headers(body, event="pull_request", secret=None)
    headers["X-Hub-Signature"] = "sha1=" + hmac.new(SECRET.encode(), body, hashlib.sha1).hexdigest()

    response = await roomy_bot.client.post("/webhook", data=body, headers=headers)

    assert response.status == 401


async def test_non_ascii_signature_header_is_refused_not_crashed(roomy_bot: Bot) -> None:
    body = b"{}"
    headers = webhook_headers(body, event="ping", secret=SECRET)
    headers["X-Hub-Signature-256"] = "sha256=\u00e9\u00e9"

    response = await roomy_bot.client.post("/webhook", data=body, headers=headers)

    assert response.status == 401


async def test_chunked_body_over_the_limit_is_refused(roomy_bot: Bot, github: FakeGitHub) -> None:
    body = json.dumps({"padding": "x" * (300 * 1024)}).encode()

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the limit bites on read
        for start in range(0, len(body), 64 * 1024):
            yield body[start : start + 64 * 1024]

    response = await roomy_bot.client.post(
        "/webhook",
        data=chunks(),
        headers={
            "Content-Type": "application/json",
            "X-GitHub-Event": "ping",
            "X-GitHub-Delivery": "chunked",
            "X-Hub-Signature-256": signature(body, SECRET),
        },
    )

    assert response.status == 413
    assert github.calls == []


async def test_overlong_delivery_id_is_a_bad_request(roomy_bot: Bot) -> None:
    response = await roomy_bot.deliver("ping", {"zen": "hi"}, delivery_id="x" * 500)

    assert response.status == 400


async def test_delivery_id_that_could_break_a_log_line_is_a_bad_request(roomy_bot: Bot) -> None:
    # A line separator passes aiohttp's header checks; the signature does not cover headers.
    response = await roomy_bot.deliver("ping", {"zen": "hi"}, delivery_id="d1\u2028forged")

    assert response.status == 400

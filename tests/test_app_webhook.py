"""The webhook route: refuse what is not GitHub's, acknowledge the rest at once."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from app_fixtures import Bot
from fake_github import REPO, SECRET, FakeGitHub, pull_request_payload, webhook

from bot.app.replay import signature, webhook_headers
from bot.app.server import SERVICE


async def test_wrong_signature_is_refused_and_costs_no_github_call(
    bot: Bot, github: FakeGitHub
) -> None:
    response = await bot.deliver("pull_request", pull_request_payload(), secret="not-the-secret")
    await bot.settle()

    assert response.status == 401
    assert github.calls == []


async def test_unsigned_delivery_is_refused_and_costs_no_github_call(
    bot: Bot, github: FakeGitHub
) -> None:
    response = await bot.deliver("pull_request", pull_request_payload(), secret=None)
    await bot.settle()

    assert response.status == 401
    assert github.calls == []


async def test_signature_in_an_unknown_scheme_is_refused(bot: Bot) -> None:
    response = await bot.deliver(
        "ping", webhook("ping.1"), headers={"X-Hub-Signature-256": "md5=abc"}
    )

    assert response.status == 401


async def test_signed_non_json_body_is_a_bad_request(bot: Bot) -> None:
    response = await bot.deliver("ping", b"{not json")

    assert response.status == 400


async def test_signed_body_that_is_not_an_object_is_a_bad_request(bot: Bot) -> None:
    response = await bot.deliver("ping", b"[1, 2, 3]")

    assert response.status == 400


async def test_signed_invalid_utf8_body_is_a_bad_request(bot: Bot) -> None:
    response = await bot.deliver("ping", b'{"zen": "\xff"}')

    assert response.status == 400


async def test_missing_event_header_with_a_good_signature_is_a_bad_request(bot: Bot) -> None:
    body = json.dumps(webhook("ping.1")).encode()
    response = await bot.client.post(
        "/webhook",
        data=body,
        headers={
            "Content-Type": "application/json",
            "X-Hub-Signature-256": signature(body, SECRET),
            "X-GitHub-Delivery": "d-1",
        },
    )

    assert response.status == 400


async def test_body_over_the_size_limit_is_refused(bot: Bot, github: FakeGitHub) -> None:
    payload = {"padding": "x" * (300 * 1024)}

    response = await bot.deliver("ping", payload)

    assert response.status == 413
    assert github.calls == []


async def test_unknown_event_is_acknowledged_and_ignored(bot: Bot, github: FakeGitHub) -> None:
    response = await bot.deliver("star", {"action": "created"})
    await bot.settle()

    assert response.status == 200
    assert github.calls == []


async def test_closed_pull_request_is_ignored(bot: Bot, github: FakeGitHub) -> None:
    response = await bot.deliver("pull_request", webhook("pull_request.closed.1"))
    await bot.settle()

    assert response.status == 200
    assert github.calls == []


async def test_ping_is_acknowledged_without_github_calls(bot: Bot, github: FakeGitHub) -> None:
    response = await bot.deliver("ping", webhook("ping.4"))
    await bot.settle()

    assert response.status == 202
    assert github.calls == []
    assert bot.app[SERVICE].metrics.deliveries[("ping", "processed")] == 1


async def test_pull_request_without_installation_is_skipped_not_crashed(
    bot: Bot, github: FakeGitHub
) -> None:
    response = await bot.deliver("pull_request", webhook("pull_request.opened.1"))
    await bot.settle()

    assert response.status == 202
    assert github.calls == []
    assert bot.app[SERVICE].metrics.deliveries[("pull_request", "skipped")] == 1


async def test_payload_missing_fields_is_logged_and_skipped(bot: Bot, github: FakeGitHub) -> None:
    payload = pull_request_payload()
    del payload["pull_request"]["head"]
    github.add_pull(REPO, 2, [])

    response = await bot.deliver("pull_request", payload)
    await bot.settle()

    assert response.status == 202
    assert bot.app[SERVICE].metrics.deliveries[("pull_request", "malformed")] == 1


async def test_full_queue_answers_503_so_github_can_redeliver(
    make_bot: Callable[..., Any], github: FakeGitHub
) -> None:
    bot: Bot = await make_bot(workers=1, queue_size=2)
    github.add_pull(REPO, 2, [])
    arrived, release = github.hold(r"/pulls/\d+/files")
    statuses = []
    for number in range(1, 6):
        response = await bot.deliver("pull_request", pull_request_payload(number=number))
        statuses.append(response.status)
        if number == 1:
            await arrived.wait()  # the only worker is busy with the first delivery

    assert statuses == [202, 202, 202, 503, 503]
    release.set()
    await bot.settle()
    retried = await bot.deliver(
        "pull_request", pull_request_payload(number=4), delivery_id="delivery-4"
    )
    assert retried.status == 202


async def test_healthz_answers_ok(bot: Bot) -> None:
    response = await bot.client.get("/healthz")

    assert response.status == 200
    assert (await response.json())["status"] == "ok"


async def test_metrics_count_deliveries_and_github_calls(bot: Bot, github: FakeGitHub) -> None:
    github.add_pull(REPO, 2, [])
    await bot.deliver("pull_request", pull_request_payload())
    await bot.deliver("pull_request", pull_request_payload(), secret="wrong")
    await bot.settle()

    text = await (await bot.client.get("/metrics")).text()

    assert 'wheelwatch_deliveries_total{event="pull_request",outcome="processed"} 1' in text
    assert 'wheelwatch_deliveries_total{event="unknown",outcome="refused_401"} 1' in text
    # The files listing and the tree.
    assert 'wheelwatch_github_requests_total{method="GET",status="200"} 2' in text
    assert "wheelwatch_queue_depth 0" in text
    assert "wheelwatch_processing_seconds_count 1" in text


async def test_root_path_accepts_webhooks_too(bot: Bot) -> None:
    body = json.dumps(webhook("ping.1")).encode()
    response = await bot.client.post(
        "/", data=body, headers=webhook_headers(body, event="ping", secret=SECRET)
    )

    assert response.status == 202


async def test_acknowledgement_does_not_wait_for_the_work(bot: Bot, github: FakeGitHub) -> None:
    github.add_pull(REPO, 2, [])
    arrived, release = github.hold(r"/pulls/2/files")

    response = await bot.deliver("pull_request", pull_request_payload())
    await arrived.wait()

    assert response.status == 202
    assert bot.app[SERVICE].metrics.deliveries[("pull_request", "processed")] == 0
    release.set()
    await asyncio.wait_for(bot.settle(), 5)


async def test_metrics_show_the_waiting_deliveries_and_how_long_the_oldest_waited(
    make_bot: Any, github: FakeGitHub
) -> None:
    bot = await make_bot(workers=1)
    github.add_pull(REPO, 2, [])
    github.add_pull(REPO, 3, [])
    arrived, release = github.hold(r"/pulls/2/files")
    await bot.deliver("pull_request", pull_request_payload(number=2))
    await arrived.wait()  # the only worker is busy with PR 2
    await bot.deliver("pull_request", pull_request_payload(number=3))

    text = await (await bot.client.get("/metrics")).text()
    release.set()
    await bot.settle()

    assert "wheelwatch_queue_depth 1.0" in text
    [age] = [line for line in text.splitlines() if line.startswith("wheelwatch_job_age_seconds ")]
    assert float(age.split()[1]) > 0


async def test_body_whose_full_decode_fails_after_the_ack_is_skipped_as_malformed(
    bot: Bot, github: FakeGitHub
) -> None:
    # A number too large for a float, in a field the acknowledgement does not read: accepted
    # (bot.app.decoding.decode_routing), then refused by the full decode when a worker takes it.
    body = json.dumps(pull_request_payload())[:-1].encode() + b', "x": 1e400}'

    response = await bot.deliver("pull_request", body)
    await bot.settle()

    assert response.status == 202
    assert bot.app[SERVICE].metrics.deliveries[("pull_request", "malformed")] == 1
    assert github.calls == []

"""SIGTERM: stop accepting, finish what was accepted (within a bound), exit."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
from app_fixtures import Bot
from fake_github import (
    REPO,
    SECRET,
    UNSAFE_WORKFLOW,
    FakeGitHub,
    added_patch,
    pull_request_payload,
)
from processes import ended, processes_of_session
from served import serve

from bot.app.replay import webhook_headers
from bot.app.server import SERVICE

WORKFLOW = ".github/workflows/ci.yml"
OTHER_HEAD = "0123456789abcdef0123456789abcdef01234567"


def unsafe_pull(github: FakeGitHub) -> None:
    github.add_file(
        REPO, pull_request_payload()["pull_request"]["head"]["sha"], WORKFLOW, UNSAFE_WORKFLOW
    )
    github.add_pull(
        REPO, 2, [{"filename": WORKFLOW, "status": "added", "patch": added_patch(UNSAFE_WORKFLOW)}]
    )


async def test_shutdown_finishes_deliveries_in_flight_and_refuses_new_ones(
    bot: Bot, github: FakeGitHub
) -> None:
    unsafe_pull(github)
    arrived, release = github.hold(r"/pulls/2/files")
    await bot.deliver("pull_request", pull_request_payload())
    await arrived.wait()

    shutdown = asyncio.create_task(bot.app.shutdown())
    # The drain task runs first at the next await and flips the server to refusing.
    refused = await bot.deliver("pull_request", pull_request_payload(number=3))
    health = await bot.client.get("/healthz")
    release.set()
    await shutdown

    assert (refused.status, health.status) == (503, 503)
    assert len(github.reviews(REPO, 2)) == 1
    [run] = github.check_runs.values()
    assert run.status == "completed"


async def test_drain_gives_up_after_its_bound(
    make_bot: Callable[..., Any], github: FakeGitHub
) -> None:
    bot: Bot = await make_bot(drain_seconds=0)
    unsafe_pull(github)
    arrived, release = github.hold(r"/pulls/2/files")
    await bot.deliver("pull_request", pull_request_payload())
    await arrived.wait()

    await asyncio.wait_for(bot.app.shutdown(), 5)

    assert not bot.app[SERVICE].accepting
    release.set()


async def post_delivery(
    session: aiohttp.ClientSession, url: str, payload: dict[str, Any], delivery_id: str
) -> int:
    body = json.dumps(payload).encode()
    headers = webhook_headers(body, event="pull_request", secret=SECRET, delivery_id=delivery_id)
    async with session.post(f"{url}/webhook", data=body, headers=headers) as response:
        return response.status


async def test_sigterm_with_work_in_flight_finishes_it_then_exits(
    github: FakeGitHub, rsa_keys: tuple[str, str]
) -> None:
    unsafe_pull(github)
    arrived, release = github.hold(r"/pulls/2/files")
    served = await serve(github, rsa_keys[0])

    async with aiohttp.ClientSession() as session:
        assert await post_delivery(session, served.url, pull_request_payload(), "d-1") == 202
    await asyncio.wait_for(arrived.wait(), 10)

    served.process.send_signal(signal.SIGTERM)
    await served.read_log_until(b"draining")  # refusing new work, waiting for the old
    release.set()
    returncode = await served.exit()

    assert returncode == 0, served.log.decode()
    assert len(github.reviews(REPO, 2)) == 1
    [run] = github.check_runs.values()
    assert run.status == "completed"
    assert SECRET not in served.log.decode()


async def test_while_draining_every_connection_gets_503_at_once_kept_alive_ones_too(
    github: FakeGitHub, rsa_keys: tuple[str, str]
) -> None:
    unsafe_pull(github)
    arrived, release = github.hold(r"/pulls/2/files")
    served = await serve(github, rsa_keys[0])
    kept_alive = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5))
    try:
        assert await post_delivery(kept_alive, served.url, pull_request_payload(), "d-1") == 202
        await asyncio.wait_for(arrived.wait(), 10)

        served.process.send_signal(signal.SIGTERM)
        await served.read_log_until(b"draining")
        late = pull_request_payload(number=3)
        on_the_kept_alive_one = await post_delivery(kept_alive, served.url, late, "d-2")
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as fresh:
            on_a_new_one = await post_delivery(fresh, served.url, late, "d-3")
            async with fresh.get(f"{served.url}/healthz") as health:
                health_status = health.status
    finally:
        await kept_alive.close()
        release.set()
    returncode = await served.exit()

    assert (on_the_kept_alive_one, on_a_new_one, health_status) == (503, 503, 503)
    assert returncode == 0, served.log.decode()
    assert len(github.reviews(REPO, 2)) == 1


async def test_deliveries_the_drain_deadline_cuts_off_are_named_and_not_counted_processed(
    make_bot: Callable[..., Any], github: FakeGitHub, caplog: pytest.LogCaptureFixture
) -> None:
    bot: Bot = await make_bot(drain_seconds=0, workers=1, queue_size=4)
    unsafe_pull(github)
    arrived, release = github.hold(r"/pulls/\d+/files")
    await bot.deliver("pull_request", pull_request_payload(), delivery_id="d-running")
    await arrived.wait()
    for number in (3, 4):
        payload = pull_request_payload(number=number)
        await bot.deliver("pull_request", payload, delivery_id=f"d-waiting-{number}")

    with caplog.at_level(logging.INFO):
        await asyncio.wait_for(bot.client.close(), 10)  # SIGTERM's drain, then the exit
    release.set()

    named = {
        delivery: [r.getMessage() for r in caplog.records if delivery in r.getMessage()]
        for delivery in ("d-running", "d-waiting-3", "d-waiting-4")
    }
    assert all(lines for lines in named.values()), named
    outcomes = bot.app[SERVICE].metrics.deliveries
    assert outcomes[("pull_request", "processed")] == 0
    assert outcomes[("pull_request", "cut_off")] == 1
    assert outcomes[("pull_request", "not_started")] == 2


async def test_sigterm_to_the_whole_process_group_still_drains_and_leaves_no_process(
    github: FakeGitHub, rsa_keys: tuple[str, str]
) -> None:
    # Heroku, systemd's default KillMode and a terminal send SIGTERM to every process of the
    # dyno or group: the analysis processes get it too, not only the server.
    unsafe_pull(github)
    # Another text than pull 2's, which the analysis cache would answer without a process.
    text = UNSAFE_WORKFLOW + "# pull 3\n"
    github.add_file(REPO, OTHER_HEAD, WORKFLOW, text)
    github.add_pull(
        REPO, 3, [{"filename": WORKFLOW, "status": "added", "patch": added_patch(text)}]
    )
    reviewing, review = github.hold(r"/pulls/2/reviews")
    arrived, release = github.hold(r"/pulls/3/files")
    served = await serve(github, rsa_keys[0], new_session=True)
    group = served.process.pid

    async with aiohttp.ClientSession() as session:
        assert await post_delivery(session, served.url, pull_request_payload(), "d-1") == 202
        # Pull 2 analysed and rendered: an analysis process is running, idle, for the next.
        await asyncio.wait_for(reviewing.wait(), 20)
        review.set()
        payload = pull_request_payload(number=3, head_sha=OTHER_HEAD)
        assert await post_delivery(session, served.url, payload, "d-2") == 202
    await asyncio.wait_for(arrived.wait(), 10)
    analysis_processes = processes_of_session(group) - {group}
    assert analysis_processes, "no analysis process started"

    os.killpg(group, signal.SIGTERM)
    await served.read_log_until(b"draining")
    release.set()
    returncode = await served.exit()

    assert returncode == 0, served.log.decode()
    assert [len(github.reviews(REPO, n)) for n in (2, 3)] == [1, 1], served.log.decode()
    assert all(run.status == "completed" for run in github.check_runs.values())
    assert b"could not finish" not in served.log, served.log.decode()
    assert b"failed" not in served.log, served.log.decode()
    left = [pid for pid in processes_of_session(group) if not await ended(pid, 5)]
    assert left == [], served.log.decode()

"""SIGTERM: stop accepting, finish what was accepted (within a bound), exit."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from collections.abc import Callable
from typing import Any

import aiohttp
from app_fixtures import Bot
from fake_github import (
    APP_ID,
    REPO,
    SECRET,
    UNSAFE_WORKFLOW,
    FakeGitHub,
    added_patch,
    pull_request_payload,
)

from bot.app.replay import webhook_headers
from bot.app.server import SERVICE

WORKFLOW = ".github/workflows/ci.yml"


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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_sigterm_with_work_in_flight_finishes_it_then_exits(
    github: FakeGitHub, rsa_keys: tuple[str, str]
) -> None:
    unsafe_pull(github)
    arrived, release = github.hold(r"/pulls/2/files")
    port = free_port()
    env = {
        **os.environ,
        "GITHUB_APP_ID": APP_ID,
        "GITHUB_PRIVATE_KEY": rsa_keys[0].replace("\n", "\\n"),
        "GITHUB_WEBHOOK_SECRET": SECRET,
        "GITHUB_API_URL": github.url,  # type: ignore[attr-defined]
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "LOG_LEVEL": "INFO",
    }
    code = (
        "import argparse, sys; from bot.app.commands import run_serve; "
        "sys.exit(run_serve(argparse.Namespace()))"
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, env=env, stderr=asyncio.subprocess.PIPE
    )
    assert process.stderr is not None
    log = b""
    while b"Running on" not in log:
        line = await asyncio.wait_for(process.stderr.readline(), 20)
        assert line, log.decode()
        log += line

    body = json.dumps(pull_request_payload()).encode()
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"http://127.0.0.1:{port}/webhook",
            data=body,
            headers=webhook_headers(body, event="pull_request", secret=SECRET),
        ) as response,
    ):
        assert response.status == 202
    await asyncio.wait_for(arrived.wait(), 10)

    process.send_signal(signal.SIGTERM)
    while b"draining" not in log:  # the server has stopped listening and waits for the work
        line = await asyncio.wait_for(process.stderr.readline(), 20)
        assert line, log.decode()
        log += line
    release.set()
    rest = await asyncio.wait_for(process.stderr.read(), 20)
    returncode = await asyncio.wait_for(process.wait(), 20)

    assert returncode == 0, (log + rest).decode()
    assert len(github.reviews(REPO, 2)) == 1
    [run] = github.check_runs.values()
    assert run.status == "completed"
    assert SECRET not in (log + rest).decode()

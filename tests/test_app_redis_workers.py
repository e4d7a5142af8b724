"""Worker processes on one Redis: a worker SIGKILLed mid-job loses nothing, because another
takes its job up once the job's short lease lapses; SIGTERM finishes the job in hand."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
import redis.asyncio
from fake_github import APP_ID, REPO, SECRET, FakeGitHub, pull_request_payload
from support import TODAY
from test_app_fix_pull_request import CREATE_PULL, fix_pressed, push_payload, unsafe_repository
from test_app_redis import github_factory, open_pull

from bot.app.config import AppConfig
from bot.app.replay import webhook_headers
from bot.app.server_redis import create_redis_app
from bot.app.worker import MAX_TRIES, build_worker

# How long a job's lease lasts in these tests: a killed worker's job waits about this long.
LEASE_SECONDS = 1


@pytest.fixture
async def web(
    aiohttp_client: Callable[..., Any], app_config: AppConfig, redis_url: str
) -> AsyncIterator[Any]:
    config = AppConfig(**{**app_config.__dict__, "redis_url": redis_url})
    yield await aiohttp_client(create_redis_app(config))


def worker_env(github: FakeGitHub, rsa_keys: tuple[str, str], redis_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "GITHUB_APP_ID": APP_ID,
        "GITHUB_PRIVATE_KEY": rsa_keys[0].replace("\n", "\\n"),
        "GITHUB_WEBHOOK_SECRET": SECRET,
        "GITHUB_API_URL": github.url,  # type: ignore[attr-defined]
        "WHEELWATCH_REDIS_URL": redis_url,
        "WHEELWATCH_LEASE_SECONDS": str(LEASE_SECONDS),
        "WHEELWATCH_WORKERS": "2",
        "LOG_LEVEL": "INFO",
        # The day the tests are written for, as the in-process App's (app_fixtures.py).
        "WHEELWATCH_AS_OF": TODAY.isoformat(),
    }


async def start_worker(env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "worker", env=env, stderr=asyncio.subprocess.PIPE
    )


async def deliver(web: Any, delivery_id: str) -> None:
    body = json.dumps(pull_request_payload()).encode()
    headers = webhook_headers(body, event="pull_request", secret=SECRET, delivery_id=delivery_id)
    response: aiohttp.ClientResponse = await web.post("/webhook", data=body, headers=headers)
    assert response.status == 202


async def deliver_event(web: Any, event: str, payload: dict[str, Any], delivery_id: str) -> None:
    body = json.dumps(payload).encode()
    headers = webhook_headers(body, event=event, secret=SECRET, delivery_id=delivery_id)
    response: aiohttp.ClientResponse = await web.post("/webhook", data=body, headers=headers)
    assert response.status == 202


async def run_until_the_queue_is_empty(config: AppConfig) -> None:
    """One worker in this process, in burst mode."""
    worker = build_worker(config, github_factory=github_factory, burst=True, handle_signals=False)
    try:
        await worker.main()
    finally:
        await worker.close()


async def stop(process: asyncio.subprocess.Process) -> str:
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
    assert process.stderr is not None
    log = await asyncio.wait_for(process.stderr.read(), 30)
    await asyncio.wait_for(process.wait(), 30)
    return log.decode()


async def test_job_of_a_killed_worker_is_finished_by_another(
    web: Any, github: FakeGitHub, rsa_keys: tuple[str, str], redis_url: str
) -> None:
    open_pull(github)
    first_arrived, first_release = github.hold(r"/pulls/2/files")
    env = worker_env(github, rsa_keys, redis_url)
    await deliver(web, "d1")

    first = await start_worker(env)
    await asyncio.wait_for(first_arrived.wait(), 30)
    first.kill()
    await first.wait()
    completed, finish = github.hold(r"/check-runs/\d+$")  # the job's last call
    first_release.set()
    second = await start_worker(env)
    await asyncio.wait_for(completed.wait(), 30)
    finish.set()
    log = await stop(second)

    assert first.returncode == -signal.SIGKILL
    assert "delivery d1: try 2" in log, log
    assert len(github.reviews(REPO, 2)) == 1
    [run] = github.check_runs.values()
    assert run.status == "completed"
    assert SECRET not in log


async def test_retry_after_a_kill_completes_the_check_run_its_first_try_created(
    web: Any, github: FakeGitHub, rsa_keys: tuple[str, str], redis_url: str
) -> None:
    open_pull(github)
    # The first try has created the check run and reads what was posted, for the review.
    first_reading, first_release = github.hold(r"/pulls/2/comments")
    env = worker_env(github, rsa_keys, redis_url)
    await deliver(web, "d1")

    first = await start_worker(env)
    await asyncio.wait_for(first_reading.wait(), 30)
    first.kill()
    await first.wait()
    first_release.set()
    completed, finish = github.hold(r"/check-runs/\d+$")
    second = await start_worker(env)
    await asyncio.wait_for(completed.wait(), 30)
    finish.set()
    log = await stop(second)

    assert "delivery d1: try 2" in log, log
    assert len(github.reviews(REPO, 2)) == 1
    [run] = github.check_runs.values()
    assert run.status == "completed"


# Run with ``python -c``: a ``wheelwatch worker`` that dies the instant arq has started a job
# (set its in-progress key), before the job's first line runs: no lease renewal yet.
DIES_RIGHT_AFTER_PICK_UP = """\
import os, runpy, signal, sys
from arq.worker import Worker
Worker.run_job = lambda *_: os.kill(os.getpid(), signal.SIGKILL)
sys.argv = ["wheelwatch", "worker"]
runpy.run_module("bot", run_name="__main__")
"""


async def test_job_of_a_worker_killed_right_after_picking_it_up_waits_only_a_lease(
    web: Any, github: FakeGitHub, rsa_keys: tuple[str, str], redis_url: str
) -> None:
    open_pull(github)
    env = worker_env(github, rsa_keys, redis_url)
    await deliver(web, "d1")

    first = await asyncio.create_subprocess_exec(
        sys.executable, "-c", DIES_RIGHT_AFTER_PICK_UP, env=env, stderr=asyncio.subprocess.DEVNULL
    )
    await asyncio.wait_for(first.wait(), 30)
    store = redis.asyncio.Redis.from_url(redis_url)
    left_ms = await store.pttl("arq:in-progress:d1")  # -2: lapsed already
    await store.aclose()
    completed, finish = github.hold(r"/check-runs/\d+$")
    second = await start_worker(env)
    await asyncio.wait_for(completed.wait(), 30)
    finish.set()
    await stop(second)

    assert first.returncode == -signal.SIGKILL
    assert left_ms <= LEASE_SECONDS * 1000
    assert len(github.reviews(REPO, 2)) == 1
    [run] = github.check_runs.values()
    assert run.status == "completed"


async def test_sigterm_lets_the_job_in_hand_finish_before_the_worker_exits(
    web: Any, github: FakeGitHub, rsa_keys: tuple[str, str], redis_url: str
) -> None:
    open_pull(github)
    arrived, release = github.hold(r"/pulls/2/files")
    await deliver(web, "d1")
    worker = await start_worker(worker_env(github, rsa_keys, redis_url))
    await asyncio.wait_for(arrived.wait(), 30)

    worker.send_signal(signal.SIGTERM)
    assert worker.stderr is not None
    log = b""
    while b"shutdown on SIGTERM" not in log:  # arq has stopped taking jobs
        line = await asyncio.wait_for(worker.stderr.readline(), 30)
        assert line, log.decode()
        log += line
    release.set()
    rest = await stop(worker)

    assert worker.returncode == 0, log.decode() + rest
    assert len(github.reviews(REPO, 2)) == 1
    [run] = github.check_runs.values()
    assert run.status == "completed"


@pytest.mark.parametrize("command", ["serve", "worker"])
async def test_unreachable_redis_stops_the_start_naming_the_setting(
    command: str, github: FakeGitHub, rsa_keys: tuple[str, str], tmp_path: Any
) -> None:
    env = worker_env(github, rsa_keys, f"unix://{tmp_path}/no-redis.sock")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", command, env=env, stderr=asyncio.subprocess.PIPE
    )
    _, stderr = await asyncio.wait_for(process.communicate(), 60)

    assert process.returncode == 2
    assert "WHEELWATCH_REDIS_URL cannot be reached" in stderr.decode()


async def test_worker_runs_as_many_jobs_at_once_as_wheelwatch_workers_says(
    web: Any, github: FakeGitHub, rsa_keys: tuple[str, str], redis_url: str
) -> None:
    open_pull(github)
    holds = []
    for number in (2, 3, 4):
        github.add_pull(REPO, number, github.pulls[(REPO, 2)].files)
        holds.append(github.hold(rf"/pulls/{number}/files"))
        body = json.dumps(pull_request_payload(number=number)).encode()
        headers = webhook_headers(
            body, event="pull_request", secret=SECRET, delivery_id=f"d{number}"
        )
        assert (await web.post("/webhook", data=body, headers=headers)).status == 202
    worker = await start_worker(worker_env(github, rsa_keys, redis_url))  # WORKERS=2

    waits = {asyncio.ensure_future(arrived.wait()) for arrived, _release in holds}
    done: set[asyncio.Future[Any]] = set()
    while len(done) < 2:  # two of the three jobs are at GitHub
        newly, _ = await asyncio.wait(waits - done, timeout=30, return_when="FIRST_COMPLETED")
        assert newly, "fewer than two jobs started"
        done |= newly
    store = redis.asyncio.Redis.from_url(redis_url)
    running = [key async for key in store.scan_iter("arq:in-progress:*")]
    await store.aclose()
    for _arrived, release in holds:
        release.set()
    await asyncio.wait_for(asyncio.gather(*waits), 30)  # the third starts once one ends
    await stop(worker)

    assert len(running) == 2
    assert [len(github.reviews(REPO, number)) for number in (2, 3, 4)] == [1, 1, 1]


@pytest.mark.parametrize(
    ("method", "write"),
    [("POST", r"/pulls/2/reviews$"), ("POST", r"/check-runs$"), ("PATCH", r"/check-runs/\d+$")],
    ids=["review", "check run", "check run completion"],
)
async def test_retry_after_a_kill_finds_what_its_first_try_wrote_when_the_answer_was_lost(
    method: str,
    write: str,
    web: Any,
    github: FakeGitHub,
    rsa_keys: tuple[str, str],
    redis_url: str,
) -> None:
    open_pull(github)
    # GitHub applies the first try's write and its answer never comes; the worker dies
    # waiting for it, and another worker's try reads what was written.
    applied = github.lose(method, write, "stall")
    env = worker_env(github, rsa_keys, redis_url)
    await deliver(web, "d1")

    first = await start_worker(env)
    await asyncio.wait_for(applied.wait(), 30)
    first.kill()
    await first.wait()
    completed, finish = github.hold(r"/check-runs/\d+$")  # the job's last call
    second = await start_worker(env)
    await asyncio.wait_for(completed.wait(), 30)
    finish.set()
    log = await stop(second)

    assert "delivery d1: try 2" in log, log
    assert len(github.reviews(REPO, 2)) == 1
    [run] = github.check_runs.values()
    assert run.status == "completed"


async def test_retry_after_a_kill_finds_the_fix_pull_request_its_first_try_opened(
    web: Any,
    github: FakeGitHub,
    rsa_keys: tuple[str, str],
    redis_url: str,
    app_config: AppConfig,
) -> None:
    sha = unsafe_repository(github)
    await deliver_event(web, "push", push_payload(sha), "d-push")
    config = AppConfig(**{**app_config.__dict__, "redis_url": redis_url})
    checker = build_worker(config, github_factory=github_factory, burst=True, handle_signals=False)
    try:
        await checker.main()  # the check run, with its Fix button
    finally:
        await checker.close()
    applied = github.lose("POST", r"/pulls$", "stall")
    env = worker_env(github, rsa_keys, redis_url)
    await deliver_event(web, "check_run", fix_pressed(github, sha), "d-fix")

    first = await start_worker(env)
    await asyncio.wait_for(applied.wait(), 30)
    first.kill()
    await first.wait()
    noted, finish = github.hold(r"/check-runs/\d+$")  # the fix's last call: its note
    second = await start_worker(env)
    await asyncio.wait_for(noted.wait(), 30)
    finish.set()
    log = await stop(second)

    assert "delivery d-fix: try 2" in log, log
    assert github.count()[CREATE_PULL] == 1
    assert len(github.open_pulls(REPO)) == 1


async def test_retry_after_a_kill_stores_each_annotation_of_the_check_run_once(
    web: Any, github: FakeGitHub, rsa_keys: tuple[str, str], redis_url: str
) -> None:
    open_pull(github)
    # The first try's last write (the check run completed, with its annotation) is applied
    # and its answer never comes; the worker dies waiting for it.
    applied = github.lose("PATCH", r"/check-runs/\d+$", "stall")
    env = worker_env(github, rsa_keys, redis_url)
    await deliver(web, "d1")

    first = await start_worker(env)
    await asyncio.wait_for(applied.wait(), 30)
    first.kill()
    await first.wait()
    completed, finish = github.hold(r"/check-runs/\d+$")
    second = await start_worker(env)
    await asyncio.wait_for(completed.wait(), 30)
    finish.set()
    await stop(second)

    [run] = github.check_runs.values()
    assert [a["title"] for a in run.annotations] == ["WW001 prerelease-cache-key"]


async def test_redelivery_of_a_delivery_given_up_after_kills_completes_the_check_run_they_left(
    web: Any,
    github: FakeGitHub,
    rsa_keys: tuple[str, str],
    redis_url: str,
    app_config: AppConfig,
) -> None:
    open_pull(github)
    reading, release = github.hold(r"/pulls/2/comments")  # its check run exists by then
    await deliver(web, "d1")
    first = await start_worker(worker_env(github, rsa_keys, redis_url))
    await asyncio.wait_for(reading.wait(), 30)
    first.kill()
    await first.wait()
    release.set()
    # Four more workers killed on it: arq fails the job without running it, and the worker
    # gives the delivery up (its id forgotten, for a redelivery by hand).
    store = redis.asyncio.Redis.from_url(redis_url)
    await store.set("arq:retry:d1", MAX_TRIES)
    await store.delete("arq:in-progress:d1")  # the last killed worker's lease has lapsed
    await store.aclose()
    config = AppConfig(**{**app_config.__dict__, "redis_url": redis_url})
    await run_until_the_queue_is_empty(config)  # gives it up
    await deliver(web, "d1")
    await run_until_the_queue_is_empty(config)

    [run] = github.check_runs.values()
    assert run.status == "completed"
    assert len(github.reviews(REPO, 2)) == 1

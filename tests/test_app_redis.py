"""The Redis mode: web processes verify and enqueue, worker processes process, across processes
nothing is processed or posted twice. Against a real redis-server (``redis_fixtures``)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import pickle
import time
import warnings
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pool_jobs
import pytest
import redis.asyncio
from aiohttp.test_utils import TestClient
from arq.utils import timestamp_ms as now_ms
from fake_github import (
    HEAD_SHA,
    REPO,
    SECRET,
    UNSAFE_WORKFLOW,
    FakeGitHub,
    added_patch,
    pull_request_payload,
    webhook,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from test_app_analysis_process_deaths import Jobs
from test_app_push import AFTER, push_payload

from bot.app import worker as worker_module
from bot.app.config import AppConfig
from bot.app.delivery import LeaseLost
from bot.app.github import GitHubApp
from bot.app.log_format import DeliveryField, JsonLines
from bot.app.metrics import Metrics
from bot.app.queue_redis import (
    JOB_FUNCTION,
    JobLease,
    RedisClaims,
    RedisOrder,
    body_key,
    delivery_key,
    rerun_key,
)
from bot.app.replay import webhook_headers
from bot.app.server_redis import REDIS_WEBHOOK, create_redis_app
from bot.app.snapshot import Analyser
from bot.app.worker import FREE_JOBS, MAX_TRIES, START_JOB, build_worker
from bot.app.workflows import run_engine

WORKFLOW = ".github/workflows/ci.yml"
CREATE_REVIEW = "POST /repos/{owner}/{repo}/pulls/{pull_number}/reviews"
CREATE_CHECK = "POST /repos/{owner}/{repo}/check-runs"
FILES = "GET /repos/{owner}/{repo}/pulls/{pull_number}/files"


def open_pull(github: FakeGitHub, sha: str = HEAD_SHA) -> None:
    github.add_file(REPO, sha, WORKFLOW, UNSAFE_WORKFLOW)
    patch = added_patch(UNSAFE_WORKFLOW)
    github.add_pull(REPO, 2, [{"filename": WORKFLOW, "status": "added", "patch": patch}])


def github_factory(
    session: aiohttp.ClientSession, config: AppConfig, metrics: Metrics
) -> GitHubApp:
    async def no_wait(_seconds: float) -> None:
        pass

    return GitHubApp(
        session,
        app_id=config.app_id,
        private_key=config.private_key,
        api_url=config.api_url,
        metrics=metrics,
        sleep=no_wait,
    )


@dataclass
class Cluster:
    """Two web processes on one Redis, and workers started on demand (in this event loop)."""

    config: AppConfig
    webs: list[TestClient]
    sent: int = 0
    worker_metrics: list[Metrics] = field(default_factory=list)
    # Each worker's reader and analyser of commits, with its counts of reads and analyses.
    analysers: list[Analyser] = field(default_factory=list)

    async def deliver(
        self,
        event: str,
        payload: dict[str, Any] | bytes,
        *,
        web: int = 0,
        delivery_id: str | None = None,
        secret: str = SECRET,
    ) -> aiohttp.ClientResponse:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.sent += 1
        headers = webhook_headers(
            body, event=event, secret=secret, delivery_id=delivery_id or f"delivery-{self.sent}"
        )
        return await self.webs[web].post("/webhook", data=body, headers=headers)

    async def work(self, *, workers: int = 2, jobs: int | None = None) -> None:
        """Run one worker process's arq worker until the queue is empty (or it has started
        ``jobs`` jobs and they have ended)."""
        config = AppConfig(**{**self.config.__dict__, "workers": workers})
        worker = build_worker(
            config,
            github_factory=github_factory,
            burst=True,
            handle_signals=False,
        )
        if jobs is not None:
            worker.max_burst_jobs = jobs
        try:
            await worker.main()
        finally:
            self.worker_metrics.append(worker.ctx["metrics"])
            self.analysers.append(worker.ctx["wheelwatch"].processor.analyser)
            await worker.close()

    def outcomes(self) -> dict[tuple[str, str], int]:
        total: dict[tuple[str, str], int] = {}
        for metrics in self.worker_metrics:
            for key, count in metrics.deliveries.items():
                total[key] = total.get(key, 0) + count
        return total


@pytest.fixture
async def cluster(
    aiohttp_client: Callable[..., Any], app_config: AppConfig, redis_url: str
) -> AsyncIterator[Cluster]:
    config = AppConfig(**{**app_config.__dict__, "redis_url": redis_url, "lease_seconds": 3.0})
    webs = [await aiohttp_client(create_redis_app(config)) for _ in range(2)]
    yield Cluster(config, webs)


@pytest.fixture
async def store(redis_url: str) -> AsyncIterator[redis.asyncio.Redis]:
    client = redis.asyncio.Redis(unix_socket_path=redis_url.removeprefix("unix://"))
    yield client
    await client.aclose()


async def test_web_process_acknowledges_and_a_worker_posts_the_review(
    cluster: Cluster, github: FakeGitHub
) -> None:
    open_pull(github)

    response = await cluster.deliver("pull_request", pull_request_payload())
    before_work = len(github.calls)
    await cluster.work()

    assert response.status == 202
    assert before_work == 0
    assert len(github.reviews(REPO, 2)) == 1
    [run] = github.check_runs.values()
    assert run.status == "completed"


async def test_redelivery_to_another_web_process_is_a_duplicate(
    cluster: Cluster, github: FakeGitHub
) -> None:
    open_pull(github)

    first = await cluster.deliver("pull_request", pull_request_payload(), delivery_id="d1", web=0)
    again = await cluster.deliver("pull_request", pull_request_payload(), delivery_id="d1", web=1)
    await cluster.work()

    assert (first.status, again.status) == (202, 200)
    assert await again.json() == {"status": "duplicate"}
    assert github.count()[FILES] == 1


async def test_bad_signature_is_refused_and_nothing_is_queued(
    cluster: Cluster, store: redis.asyncio.Redis
) -> None:
    response = await cluster.deliver("pull_request", pull_request_payload(), secret="wrong")

    assert response.status == 401
    assert await store.zcard("arq:queue") == 0


async def test_full_queue_answers_503_and_keeps_no_trace_of_the_delivery(
    aiohttp_client: Callable[..., Any], cluster: Cluster, store: redis.asyncio.Redis
) -> None:
    config = AppConfig(**{**cluster.config.__dict__, "queue_size": 1})
    cluster.webs[0] = await aiohttp_client(create_redis_app(config))

    accepted = await cluster.deliver("pull_request", pull_request_payload(), delivery_id="a")
    refused = await cluster.deliver("pull_request", pull_request_payload(number=3), delivery_id="b")

    assert (accepted.status, refused.status) == (202, 503)
    assert await store.exists(delivery_key("b")) == 0


async def test_jobs_deferred_to_run_again_leave_the_queue_open_to_new_deliveries(
    aiohttp_client: Callable[..., Any], cluster: Cluster, store: redis.asyncio.Redis
) -> None:
    # As in the embedded mode, where runs again wait outside the queue: in an outage of
    # GitHub, the deliveries waiting to run again must not turn every new one away (503).
    config = AppConfig(**{**cluster.config.__dict__, "queue_size": 1})
    cluster.webs[0] = await aiohttp_client(create_redis_app(config))
    await cluster.deliver("pull_request", pull_request_payload(), delivery_id="a")
    await store.zadd("arq:queue", {"a": now_ms() + 30_000})  # as arq's Retry(defer=30)

    response = await cluster.deliver("pull_request", pull_request_payload(number=3))

    assert response.status == 202


async def test_event_the_app_does_not_handle_is_not_queued(
    cluster: Cluster, store: redis.asyncio.Redis
) -> None:
    response = await cluster.deliver("star", {"action": "created"})

    assert response.status == 200
    assert await store.zcard("arq:queue") == 0


async def test_delivery_dropped_after_github_errors_is_processed_again_on_redelivery(
    cluster: Cluster, github: FakeGitHub
) -> None:
    open_pull(github)
    github.fail("GET", r"/pulls/2/files", 404)

    await cluster.deliver("pull_request", pull_request_payload(), delivery_id="d1")
    await cluster.work()
    again = await cluster.deliver("pull_request", pull_request_payload(), delivery_id="d1", web=1)
    await cluster.work()

    assert again.status == 202
    assert len(github.reviews(REPO, 2)) == 1


async def test_commit_claimed_by_one_worker_gets_no_second_check_run_from_another(
    cluster: Cluster, github: FakeGitHub
) -> None:
    open_pull(github, sha=AFTER)  # the pull request's head is the pushed commit
    github.add_file(REPO, AFTER, WORKFLOW, UNSAFE_WORKFLOW)

    await cluster.deliver("pull_request", pull_request_payload("synchronize", head_sha=AFTER))
    await cluster.deliver("push", push_payload(modified=[WORKFLOW]), web=1)
    await asyncio.gather(cluster.work(), cluster.work())

    assert github.count()[CREATE_CHECK] == 1
    assert len(github.reviews(REPO, 2)) == 1


async def test_order_makes_the_later_arrival_current(store: redis.asyncio.Redis) -> None:
    order = RedisOrder(store, lease_seconds=3)  # type: ignore[arg-type]

    earlier = await order.take("o/r#1", 7)
    later = await order.take("o/r#1", 9)
    taken_late = await order.take("o/r#1", 8)  # a worker took an older one after a newer one

    assert [await order.is_current(t) for t in (earlier, later, taken_late)] == [
        False,
        True,
        False,
    ]


async def test_superseded_delivery_stops_waiting_for_its_subjects_turn(
    store: redis.asyncio.Redis,
) -> None:
    order = RedisOrder(store, lease_seconds=3)  # type: ignore[arg-type]
    running = await order.take("o/r#1", 1)
    waiting = await order.take("o/r#1", 2)

    async with order.turn(running):
        entered = asyncio.Event()

        async def wait_turn() -> None:
            async with order.turn(waiting):
                entered.set()

        waiter = asyncio.create_task(wait_turn())
        await order.take("o/r#1", 3)  # a third arrives while the second waits
        await asyncio.wait_for(waiter, 5)

    assert entered.is_set()
    assert not await order.is_current(waiting)


async def test_retry_of_the_claiming_delivery_keeps_its_claim(store: redis.asyncio.Redis) -> None:
    claims = RedisClaims(store)  # type: ignore[arg-type]

    first = await claims.for_delivery("d1").claim(REPO, AFTER)
    retried = await claims.for_delivery("d1").claim(REPO, AFTER)
    other = await claims.for_delivery("d2").claim(REPO, AFTER)
    forced = await claims.for_delivery("d3").claim(REPO, AFTER, force=True)

    assert (first, retried, other, forced) == (True, True, False, True)


async def test_every_key_a_delivery_leaves_in_redis_expires(
    cluster: Cluster, github: FakeGitHub, store: redis.asyncio.Redis
) -> None:
    open_pull(github)
    await cluster.deliver("pull_request", pull_request_payload(), delivery_id="d1")
    await cluster.deliver("push", push_payload(), delivery_id="d2", web=1)
    waiting = {key: await store.ttl(key) async for key in store.scan_iter("*")}
    await cluster.work()

    left = {key: await store.ttl(key) async for key in store.scan_iter("*")}

    shared = {b"wheelwatch:arrivals", b"arq:queue"}  # one of each for all deliveries
    assert {key for key, ttl in {**waiting, **left}.items() if ttl < 0} <= shared, (waiting, left)


async def test_healthz_reports_the_queue_in_redis(cluster: Cluster) -> None:
    await cluster.deliver("pull_request", pull_request_payload())

    response = await cluster.webs[1].get("/healthz")

    assert response.status == 200
    assert await response.json() == {"status": "ok", "queue": 1}


async def test_shutdown_stops_accepting(cluster: Cluster) -> None:
    app = cluster.webs[0].server.app
    assert app is not None
    await app.shutdown()

    response = await cluster.deliver("pull_request", pull_request_payload())

    assert response.status == 503
    assert not app[REDIS_WEBHOOK].accepting


async def test_claim_released_by_its_owner_can_be_taken_again(store: redis.asyncio.Redis) -> None:
    claims = RedisClaims(store)  # type: ignore[arg-type]
    await claims.for_delivery("d1").claim(REPO, AFTER)

    await claims.for_delivery("d2").release(REPO, AFTER)  # not its claim: kept
    taken_while_held = await claims.for_delivery("d3").claim(REPO, AFTER)
    await claims.for_delivery("d1").release(REPO, AFTER)
    taken_after_release = await claims.for_delivery("d3").claim(REPO, AFTER)

    assert (taken_while_held, taken_after_release) == (False, True)


async def test_web_process_metrics_show_the_queue_in_redis(cluster: Cluster) -> None:
    await cluster.deliver("pull_request", pull_request_payload())

    text = await (await cluster.webs[1].get("/metrics")).text()

    assert "wheelwatch_queue_depth 1.0" in text
    assert 'wheelwatch_deliveries_total{event="pull_request",outcome="accepted"}' not in text
    [age] = [line for line in text.splitlines() if line.startswith("wheelwatch_job_age_seconds ")]
    assert float(age.split()[1]) >= 0


def queue_figures(metrics_text: str) -> tuple[float, float]:
    """``wheelwatch_queue_depth`` and ``wheelwatch_job_age_seconds`` in a /metrics answer."""
    values = dict(line.split() for line in metrics_text.splitlines() if line[:1] not in "#")
    return float(values["wheelwatch_queue_depth"]), float(values["wheelwatch_job_age_seconds"])


async def test_job_a_worker_is_running_is_not_counted_as_waiting(
    cluster: Cluster, store: redis.asyncio.Redis
) -> None:
    await cluster.deliver("pull_request", pull_request_payload(), delivery_id="d1")
    await store.zadd("arq:queue", {"d1": now_ms() - 120_000})  # enqueued two minutes ago
    await store.set("arq:in-progress:d1", "1")  # as a worker marks the job it starts

    text = await (await cluster.webs[1].get("/metrics")).text()

    assert queue_figures(text) == (0.0, 0.0)


async def test_job_deferred_to_run_again_later_is_not_counted_as_waiting(
    cluster: Cluster, store: redis.asyncio.Redis
) -> None:
    # As in the embedded mode, where a run again waits outside the queue.
    await cluster.deliver("pull_request", pull_request_payload(), delivery_id="d1")
    await store.zadd("arq:queue", {"d1": now_ms() + 60_000})  # as arq's Retry(defer=60)

    text = await (await cluster.webs[1].get("/metrics")).text()

    assert queue_figures(text) == (0.0, 0.0)


async def test_job_age_is_how_long_the_oldest_waiting_job_has_waited(
    cluster: Cluster, store: redis.asyncio.Redis
) -> None:
    await cluster.deliver("pull_request", pull_request_payload(), delivery_id="d1")
    await cluster.deliver("pull_request", pull_request_payload(number=3), delivery_id="d2")
    await store.zadd("arq:queue", {"d1": now_ms() - 600_000, "d2": now_ms() - 120_000})
    await store.set("arq:in-progress:d1", "1")  # running: d2 is the oldest waiting

    text = await (await cluster.webs[1].get("/metrics")).text()

    depth, age = queue_figures(text)
    assert depth == 1.0
    assert 120 <= age < 600


async def test_worker_serves_its_metrics_when_given_a_port(
    cluster: Cluster, github: FakeGitHub, unused_tcp_port: int
) -> None:
    github.add_pull(REPO, 2, [])
    await cluster.deliver("pull_request", pull_request_payload())
    config = AppConfig(**{**cluster.config.__dict__, "metrics_port": unused_tcp_port})
    worker = build_worker(config, github_factory=github_factory, burst=True, handle_signals=False)

    try:
        await worker.main()
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{unused_tcp_port}/metrics") as response,
        ):
            text = await response.text()
    finally:
        await worker.close()

    assert 'wheelwatch_deliveries_total{event="pull_request",outcome="processed"} 1.0' in text
    assert "wheelwatch_queue_depth 0.0" in text


class _RunsCodeWhenUnpickled:
    """What anyone who can write to Redis could plant: unpickling it makes a directory."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.mkdir, (self.path,))


async def test_pickled_job_planted_in_the_queue_is_refused_and_does_not_run(
    cluster: Cluster,
    store: redis.asyncio.Redis,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ran = tmp_path / "ran"
    now_ms = int(time.time() * 1000)
    planted = {"t": 1, "f": JOB_FUNCTION, "a": (_RunsCodeWhenUnpickled(str(ran)),), "k": {}}
    await store.set("arq:job:planted", pickle.dumps({**planted, "et": now_ms}))
    await store.zadd("arq:queue", {"planted": now_ms})

    with caplog.at_level(logging.ERROR):
        await cluster.work()

    assert not ran.exists()
    assert "refused a job: its payload is not a JSON object" in caplog.text
    assert "deserializing job planted failed" in caplog.text
    assert await store.zcard("arq:queue") == 0


async def test_queued_job_holds_data_only_and_the_body_as_it_was_signed(
    cluster: Cluster, store: redis.asyncio.Redis
) -> None:
    body = json.dumps(pull_request_payload()).encode()

    await cluster.deliver("pull_request", body, delivery_id="d1")

    job = orjson.loads(await store.get("arq:job:d1"))
    assert job["f"] == JOB_FUNCTION
    assert job["a"] == ["pull_request", "d1", "application/json"]
    assert await store.get(body_key("d1")) == body


async def test_body_is_dropped_once_its_job_has_ended(
    cluster: Cluster, github: FakeGitHub, store: redis.asyncio.Redis
) -> None:
    open_pull(github)

    await cluster.deliver("pull_request", pull_request_payload(), delivery_id="d1")
    await cluster.work()

    assert await store.exists(body_key("d1")) == 0
    assert await store.exists(delivery_key("d1")) == 1  # a redelivery is still a duplicate


async def test_closing_a_worker_uses_no_deprecated_redis_call(cluster: Cluster) -> None:
    worker = build_worker(
        cluster.config, github_factory=github_factory, burst=True, handle_signals=False
    )
    await worker.main()

    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        await worker.close()


async def queued(store: redis.asyncio.Redis) -> list[str]:
    return [job.decode() for job in await store.zrange("arq:queue", 0, -1)]


async def test_queued_delivery_is_replaced_by_a_later_one_about_the_same_pull_request(
    cluster: Cluster, github: FakeGitHub, store: redis.asyncio.Redis
) -> None:
    later_sha = "f" * 40
    open_pull(github)
    github.add_file(REPO, later_sha, WORKFLOW, UNSAFE_WORKFLOW)

    await cluster.deliver("pull_request", pull_request_payload(), delivery_id="d1")
    await cluster.deliver(
        "pull_request", pull_request_payload("synchronize", head_sha=later_sha), delivery_id="d2"
    )
    waiting = await queued(store)
    await cluster.work()

    assert waiting == ["d2"]
    assert cluster.outcomes() == {("pull_request", "processed"): 1}  # d1 never started
    [review] = github.reviews(REPO, 2)
    assert review["commit_id"] == later_sha


async def test_delivery_of_another_handled_action_replaces_the_queued_one_about_its_pull_request(
    cluster: Cluster, store: redis.asyncio.Redis
) -> None:
    await cluster.deliver("pull_request", pull_request_payload(), delivery_id="d1")
    await cluster.deliver("pull_request", pull_request_payload("reopened"), delivery_id="d2", web=1)

    assert await queued(store) == ["d2"]


async def test_delivery_of_an_action_the_app_ignores_replaces_nothing(
    cluster: Cluster, store: redis.asyncio.Redis
) -> None:
    # As in the embedded mode: an ignored delivery (here ``closed``) takes no place in its
    # subject's order.
    await cluster.deliver("pull_request", pull_request_payload(), delivery_id="d1")
    closed = await cluster.deliver("pull_request", pull_request_payload("closed"), web=1)

    assert await closed.json() == {"status": "ignored"}
    assert await queued(store) == ["d1"]


async def test_replaced_delivery_is_counted_logged_and_its_redelivery_is_a_duplicate(
    cluster: Cluster, caplog: pytest.LogCaptureFixture
) -> None:
    await cluster.deliver("pull_request", pull_request_payload(), delivery_id="d1")
    with caplog.at_level(logging.DEBUG):
        await cluster.deliver("pull_request", pull_request_payload("synchronize"), delivery_id="d2")
    again = await cluster.deliver("pull_request", pull_request_payload(), delivery_id="d1", web=1)

    text = await (await cluster.webs[0].get("/metrics")).text()
    assert 'wheelwatch_deliveries_total{event="pull_request",outcome="superseded"} 1.0' in text
    assert "delivery d1: replaced in the queue by d2" in caplog.text
    assert await again.json() == {"status": "duplicate"}


async def test_replaced_delivery_is_logged_at_debug_as_in_the_embedded_mode(
    cluster: Cluster, caplog: pytest.LogCaptureFixture
) -> None:
    # A normal event (every burst about a pull request replaces), counted by the metric
    # ``superseded``: at INFO it would be one line per push in a busy repository.
    await cluster.deliver("pull_request", pull_request_payload(), delivery_id="d1")
    with caplog.at_level(logging.DEBUG):
        await cluster.deliver("pull_request", pull_request_payload("synchronize"), delivery_id="d2")

    [line] = [r for r in caplog.records if "replaced in the queue" in r.getMessage()]
    assert line.levelno == logging.DEBUG


async def test_fix_press_and_a_re_run_of_the_same_check_both_wait(
    cluster: Cluster, store: redis.asyncio.Redis
) -> None:
    pressed = webhook("check_run.requested_action.2")
    rerun = webhook("check_run.requested_action.2")
    rerun["action"] = "rerequested"
    del rerun["requested_action"]

    await cluster.deliver("check_run", pressed, delivery_id="d-fix")
    await cluster.deliver("check_run", rerun, delivery_id="d-rerun", web=1)

    assert await queued(store) == ["d-fix", "d-rerun"]


async def test_deliveries_about_different_subjects_all_wait(
    cluster: Cluster, store: redis.asyncio.Redis
) -> None:
    await cluster.deliver("pull_request", pull_request_payload(), delivery_id="pr2")
    await cluster.deliver("pull_request", pull_request_payload(number=3), delivery_id="pr3")
    await cluster.deliver("push", push_payload(), delivery_id="push")
    await cluster.deliver("installation", webhook("installation.created.1"), delivery_id="i1")
    await cluster.deliver("installation", webhook("installation.created.1"), delivery_id="i2")

    assert sorted(await queued(store)) == ["i1", "i2", "pr2", "pr3", "push"]


async def test_replacement_keeps_the_place_of_the_replaced_delivery(
    cluster: Cluster, store: redis.asyncio.Redis
) -> None:
    await cluster.deliver("pull_request", pull_request_payload(), delivery_id="pr2")
    await cluster.deliver("pull_request", pull_request_payload(number=3), delivery_id="pr3")
    await cluster.deliver(
        "pull_request", pull_request_payload("synchronize"), delivery_id="pr2-later"
    )

    assert await queued(store) == ["pr2-later", "pr3"]


async def test_replacement_into_a_full_queue_is_accepted(
    aiohttp_client: Callable[..., Any], cluster: Cluster, store: redis.asyncio.Redis
) -> None:
    config = AppConfig(**{**cluster.config.__dict__, "queue_size": 1})
    cluster.webs[0] = await aiohttp_client(create_redis_app(config))

    await cluster.deliver("pull_request", pull_request_payload(), delivery_id="d1")
    later = await cluster.deliver(
        "pull_request", pull_request_payload("synchronize"), delivery_id="d2"
    )
    other = await cluster.deliver("pull_request", pull_request_payload(number=3))

    assert (later.status, other.status) == (202, 503)
    assert await queued(store) == ["d2"]


async def test_started_delivery_is_not_replaced_and_a_later_one_stops_it_from_posting(
    cluster: Cluster, github: FakeGitHub, store: redis.asyncio.Redis
) -> None:
    later_sha = "f" * 40
    open_pull(github)
    github.add_file(REPO, later_sha, WORKFLOW, UNSAFE_WORKFLOW)
    arrived, release = github.hold(r"/pulls/2/files")
    await cluster.deliver("pull_request", pull_request_payload(), delivery_id="d1")
    work = asyncio.create_task(cluster.work())
    await arrived.wait()  # d1 has started

    later = pull_request_payload("synchronize", head_sha=later_sha)
    await cluster.deliver("pull_request", later, delivery_id="d2")
    waiting = await queued(store)
    release.set()
    await work

    assert sorted(waiting) == ["d1", "d2"]  # arq keeps a running job in its queue
    [review] = github.reviews(REPO, 2)
    assert review["commit_id"] == later_sha
    assert sum(cluster.outcomes().values()) == 2


async def test_worker_that_read_the_queue_cannot_start_a_job_replaced_meanwhile(
    cluster: Cluster, store: redis.asyncio.Redis
) -> None:
    await cluster.deliver("pull_request", pull_request_payload(), delivery_id="d1")
    # What arq's Worker.start_jobs does to start d1, with the later delivery in between.
    async with store.pipeline(transaction=True) as pipe:
        await pipe.watch("arq:in-progress:d1")
        assert not await pipe.exists("arq:in-progress:d1")
        await cluster.deliver("pull_request", pull_request_payload("synchronize"), delivery_id="d2")
        pipe.multi()
        pipe.psetex("arq:in-progress:d1", 60_000, b"1")
        with pytest.raises(redis.WatchError):
            await pipe.execute()


async def test_worker_starts_a_queued_job_for_the_lease(
    cluster: Cluster, store: redis.asyncio.Redis
) -> None:
    await cluster.deliver("pull_request", pull_request_payload(), delivery_id="d1")
    start = store.register_script(START_JOB)

    score = await start(keys=["arq:in-progress:d1", "arq:queue"], args=["d1", now_ms(), 5000])

    assert float(score) == await store.zscore("arq:queue", "d1")
    assert await store.get("arq:in-progress:d1") == b"1"
    assert 0 < await store.pttl("arq:in-progress:d1") <= 5000


async def test_worker_cannot_start_a_job_replaced_after_it_read_the_queue(
    cluster: Cluster, store: redis.asyncio.Redis
) -> None:
    await cluster.deliver("pull_request", pull_request_payload(), delivery_id="d1")
    assert await queued(store) == ["d1"]  # what the worker read
    await cluster.deliver("pull_request", pull_request_payload("synchronize"), delivery_id="d2")
    start = store.register_script(START_JOB)

    score = await start(keys=["arq:in-progress:d1", "arq:queue"], args=["d1", now_ms(), 5000])

    assert score is None
    assert await store.get("arq:in-progress:d1") == b"replaced"


async def test_worker_does_not_start_a_job_deferred_to_later(
    cluster: Cluster, store: redis.asyncio.Redis
) -> None:
    await cluster.deliver("pull_request", pull_request_payload(), delivery_id="d1")
    await store.zadd("arq:queue", {"d1": now_ms() + 60_000})  # as arq's Retry(defer=60)
    start = store.register_script(START_JOB)

    score = await start(keys=["arq:in-progress:d1", "arq:queue"], args=["d1", now_ms(), 5000])

    assert score is None
    assert await store.exists("arq:in-progress:d1") == 0


async def test_signed_body_that_is_not_json_is_refused_by_the_web_process(
    cluster: Cluster, store: redis.asyncio.Redis
) -> None:
    response = await cluster.deliver("pull_request", b"not json")

    assert response.status == 400
    assert await store.zcard("arq:queue") == 0


async def test_worker_does_not_try_to_take_a_job_another_worker_is_running(
    cluster: Cluster, github: FakeGitHub, store: redis.asyncio.Redis
) -> None:
    open_pull(github)
    await cluster.deliver("pull_request", pull_request_payload(), delivery_id="delivery-1")
    await cluster.deliver("pull_request", pull_request_payload(number=3), delivery_id="delivery-2")
    # arq keeps a running job in its queue, at its head, with this key set by its worker.
    await store.set("arq:in-progress:delivery-1", b"1", px=60_000)
    started, release = github.hold(r"/pulls/3/files")
    worker = build_worker(cluster.config, github_factory=github_factory, handle_signals=False)
    await store.config_resetstat()

    polling = asyncio.create_task(worker.main())
    await started.wait()
    commands = await store.info("commandstats")
    release.set()
    polling.cancel()
    await worker.close()  # once delivery-2's job has ended

    # A take of a job reads its place in the queue (ZSCORE) once: delivery-2's.
    assert commands["cmdstat_zscore"]["calls"] == 1


async def test_lease_of_a_job_running_longer_than_it_is_renewed_and_no_other_worker_starts_it(
    cluster: Cluster, github: FakeGitHub, store: redis.asyncio.Redis
) -> None:
    open_pull(github)
    await cluster.deliver("pull_request", pull_request_payload(), delivery_id="d1")
    config = AppConfig(**{**cluster.config.__dict__, "lease_seconds": 1.0})
    at_github, release = github.hold(r"/pulls/2/files")
    # Each expiry set on the job's in-progress key is an event: its start sets two (arq's
    # mark, then the try's token), every renewal (a third of a lease apart) one more.
    await store.config_set("notify-keyspace-events", "Kg")
    events = store.pubsub()
    await events.subscribe("__keyspace@0__:arq:in-progress:d1")
    worker = build_worker(config, github_factory=github_factory, burst=True, handle_signals=False)
    running = asyncio.create_task(worker.main())
    await at_github.wait()

    expiries = 0
    while expiries < 2 + 4:  # four renewals: more than a lease has passed since the start
        message = await asyncio.wait_for(events.get_message(timeout=None), 10)
        if message is not None and message["data"] == b"expire":
            expiries += 1
    held = await store.exists("arq:in-progress:d1")
    start = store.register_script(START_JOB)
    other = await start(keys=["arq:in-progress:d1", "arq:queue"], args=["d1", now_ms(), 1000])
    release.set()
    await running
    await worker.close()
    await events.aclose()
    await store.config_set("notify-keyspace-events", "")  # the session's other tests

    assert held == 1
    assert other is None  # another worker cannot start it
    assert len(github.reviews(REPO, 2)) == 1


def writes(github: FakeGitHub) -> list[str]:
    return [call.operation for call in github.calls if call.method != "GET"]


async def test_worker_whose_lease_was_taken_over_stops_without_posting(
    cluster: Cluster, github: FakeGitHub, store: redis.asyncio.Redis
) -> None:
    open_pull(github)
    arrived, release = github.hold(r"/pulls/2/files")
    await cluster.deliver("pull_request", pull_request_payload(), delivery_id="d1")
    work = asyncio.create_task(cluster.work(jobs=1))
    await arrived.wait()

    # The worker stalled past its lease and another one started the job: what its start wrote.
    await store.set("arq:in-progress:d1", "another worker", px=60_000)
    written = len(writes(github))
    release.set()
    await work

    assert writes(github)[written:] == []  # not even the check run's "could not finish"
    assert cluster.outcomes() == {("pull_request", "lease_lost"): 1}
    # The job is left to the worker that holds it: still queued, still held, body kept.
    assert await store.get("arq:in-progress:d1") == b"another worker"
    assert await queued(store) == ["d1"]
    assert await store.exists(body_key("d1")) == 1


async def test_worker_whose_lease_was_taken_over_after_its_check_run_logs_no_error(
    cluster: Cluster,
    github: FakeGitHub,
    store: redis.asyncio.Redis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Its check run is the other worker's to complete: not closing it is not a failure
    # (an ERROR line said GitHub refused to close it, which GitHub was never asked).
    open_pull(github)
    arrived, release = github.hold(r"/pulls/2/comments")  # the check run exists by then
    await cluster.deliver("pull_request", pull_request_payload(), delivery_id="d1")
    work = asyncio.create_task(cluster.work(jobs=1))
    await arrived.wait()
    await store.set("arq:in-progress:d1", "another worker", px=60_000)

    release.set()
    await work

    assert cluster.outcomes() == {("pull_request", "lease_lost"): 1}
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_job_lease_is_a_token_of_the_worker_that_holds_it(
    cluster: Cluster, github: FakeGitHub, store: redis.asyncio.Redis
) -> None:
    open_pull(github)
    arrived, release = github.hold(r"/pulls/2/files")
    await cluster.deliver("pull_request", pull_request_payload(), delivery_id="d1")
    work = asyncio.create_task(cluster.work(jobs=1))
    await arrived.wait()

    held = await store.get("arq:in-progress:d1")
    left_ms = await store.pttl("arq:in-progress:d1")
    release.set()
    await work

    assert held not in (None, b"1")  # arq's own mark, replaced by the job's token
    assert 0 < left_ms <= cluster.config.lease_seconds * 1000


async def test_try_takes_a_job_only_as_arq_marked_it_when_it_started(
    store: redis.asyncio.Redis,
) -> None:
    await store.set("arq:in-progress:d1", b"1", px=60_000)  # arq's mark: just started
    first = JobLease(store, "d1", lease_seconds=3)  # type: ignore[arg-type]
    second = JobLease(store, "d1", lease_seconds=3)  # type: ignore[arg-type]

    assert (await first.take(), await second.take()) == (True, False)
    await first.check()
    with pytest.raises(LeaseLost):
        await second.check()


async def test_try_reads_the_keys_it_was_given_as_it_takes_the_job(
    store: redis.asyncio.Redis,
) -> None:
    await store.set("arq:in-progress:d1", b"1", px=60_000)
    await store.set(body_key("d1"), b"{}")
    lease = JobLease(store, "d1", 3, reads=(body_key("d1"), delivery_key("d1")))  # type: ignore[arg-type]

    assert await lease.take()
    assert lease.read == [b"{}", None]  # the delivery's arrival is not recorded


async def test_try_takes_the_job_after_redis_forgot_its_scripts(
    store: redis.asyncio.Redis,
) -> None:
    await store.set("arq:in-progress:d1", b"1", px=60_000)
    lease = JobLease(store, "d1", lease_seconds=3)  # type: ignore[arg-type]
    await store.script_flush()  # as a restarted Redis has

    assert await lease.take()
    await lease.check()


def redis_fails_once_as_a_job_starts(monkeypatch: pytest.MonkeyPatch) -> list[Exception]:
    """The next job's lease cannot be taken once (Redis went away); the list empties then."""
    take = JobLease.take
    failures: list[Exception] = [RedisConnectionError("Redis went away for a moment")]

    async def fails_once(lease: JobLease) -> bool:
        if failures:
            raise failures.pop()
        return await take(lease)

    monkeypatch.setattr(JobLease, "take", fails_once)
    return failures


async def test_redis_failing_as_a_job_starts_puts_it_back_in_the_queue(
    cluster: Cluster, github: FakeGitHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    open_pull(github)
    failures = redis_fails_once_as_a_job_starts(monkeypatch)
    await cluster.deliver("pull_request", pull_request_payload(), delivery_id="d1")
    await cluster.work()

    assert failures == []
    assert cluster.outcomes() == {("pull_request", "processed"): 1}
    assert len(github.reviews(REPO, 2)) == 1


def rerunning(cluster: Cluster, *delays: float) -> None:
    """Workers run a delivery that failed on GitHub again after each of ``delays``."""
    cluster.config = AppConfig(**{**cluster.config.__dict__, "rerun_delays": delays})


async def test_delivery_whose_check_run_creation_failed_every_try_is_run_again(
    cluster: Cluster, github: FakeGitHub, store: redis.asyncio.Redis
) -> None:
    open_pull(github)
    rerunning(cluster, 0.0)
    github.fail("POST", r"/check-runs$", 502, times=4)  # every send of the first run

    await cluster.deliver("pull_request", pull_request_payload(), delivery_id="d1")
    await cluster.work()

    [run] = github.check_runs.values()
    assert run.status == "completed"
    assert len(github.reviews(REPO, 2)) == 1
    assert cluster.outcomes()[("pull_request", "processed")] == 1
    assert await store.exists(body_key("d1")) == 0


async def test_rerun_of_a_delivery_that_created_its_check_run_posts_nothing_twice(
    cluster: Cluster, github: FakeGitHub
) -> None:
    open_pull(github)
    rerunning(cluster, 0.0)
    github.fail("POST", r"/pulls/2/reviews$", 502, times=4)  # after the check run exists

    await cluster.deliver("pull_request", pull_request_payload(), delivery_id="d1")
    await cluster.work()

    assert len(github.check_runs) == 1
    assert len(github.reviews(REPO, 2)) == 1
    assert cluster.outcomes()[("pull_request", "processed")] == 1


def try_lines(caplog: pytest.LogCaptureFixture, delivery_id: str) -> list[str]:
    """The worker's lines that announce a delivery's second or later try."""
    prefix = f"delivery {delivery_id}: try "
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith(prefix)]


async def test_planned_rerun_is_logged_as_one_not_as_an_interrupted_try(
    cluster: Cluster, github: FakeGitHub, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.app")
    open_pull(github)
    rerunning(cluster, 0.0)
    github.fail("POST", r"/check-runs$", 502, times=4)  # every send of the first run

    await cluster.deliver("pull_request", pull_request_payload(), delivery_id="d1")
    await cluster.work()

    [line] = try_lines(caplog, "d1")
    assert "interrupted" not in line
    assert "run again" in line


# What a try's line says when no run again was planned for it: arq counts a try each time
# it starts the job and records nothing of why the one before did not end.
NOT_PLANNED = (
    "delivery d1: try 2 (not recorded as a planned run again: an earlier try was stopped or"
    " stalled, or Redis failed or lost the record)"
)


async def test_try_after_a_cancelled_one_is_logged_as_not_a_planned_run_again(
    cluster: Cluster, github: FakeGitHub, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.app")
    open_pull(github)
    arrived, release = github.hold(r"/pulls/2/files")
    await cluster.deliver("pull_request", pull_request_payload(), delivery_id="d1")
    worker = build_worker(cluster.config, github_factory=github_factory, handle_signals=False)
    polling = asyncio.create_task(worker.main())
    await arrived.wait()
    polling.cancel()
    await worker.close()  # cancels the running job, as a shutdown's end does
    release.set()

    await cluster.work()

    assert try_lines(caplog, "d1") == [NOT_PLANNED]
    assert len(github.reviews(REPO, 2)) == 1


async def test_try_after_redis_failed_as_the_job_started_claims_no_interruption(
    cluster: Cluster,
    github: FakeGitHub,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="bot.app")
    open_pull(github)
    failures = redis_fails_once_as_a_job_starts(monkeypatch)
    await cluster.deliver("pull_request", pull_request_payload(), delivery_id="d1")

    await cluster.work()

    assert failures == []
    assert try_lines(caplog, "d1") == [NOT_PLANNED]


async def test_job_and_body_of_a_delivery_to_run_again_outlive_its_delay(
    cluster: Cluster, github: FakeGitHub, store: redis.asyncio.Redis
) -> None:
    # arq drops a job whose key has expired ("job expired"), unnamed and not counted, and a
    # run again may be planned up to a day later (WHEELWATCH_RERUN_DELAYS).
    open_pull(github)
    rerunning(cluster, 86400.0)
    github.fail("POST", r"/check-runs$", 502, times=4)  # every send of the first run
    await cluster.deliver("pull_request", pull_request_payload(), delivery_id="d1")

    await cluster.work(jobs=1)  # fails on GitHub; its run again is planned in a day

    assert await store.pttl("arq:job:d1") > 86400 * 1000
    assert await store.pttl(body_key("d1")) > 86400 * 1000


async def test_run_again_mark_lasts_as_long_as_its_job_may_wait(
    cluster: Cluster, github: FakeGitHub, store: redis.asyncio.Redis
) -> None:
    # Expired while its job waited (workers busy), the mark made the run again's line say
    # it was not one.
    open_pull(github)
    rerunning(cluster, 30.0)
    github.fail("POST", r"/check-runs$", 502, times=4)  # every send of the first run
    await cluster.deliver("pull_request", pull_request_payload(), delivery_id="d1")

    await cluster.work(jobs=1)  # fails on GitHub; its run again is planned in 30 s

    assert await store.pttl("wheelwatch:rerun:d1") >= await store.pttl("arq:job:d1") > 0


async def test_delivery_github_refused_with_a_404_is_not_run_again(
    cluster: Cluster, github: FakeGitHub
) -> None:
    open_pull(github)
    rerunning(cluster, 0.0)
    github.fail("GET", r"/pulls/2/files", 404)

    await cluster.deliver("pull_request", pull_request_payload(), delivery_id="d1")
    await cluster.work()

    assert github.count()[FILES] == 1
    assert cluster.outcomes().get(("pull_request", "rerun"), 0) == 0


async def test_delivery_still_failing_after_its_reruns_is_given_up_once_and_named(
    cluster: Cluster,
    github: FakeGitHub,
    store: redis.asyncio.Redis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    open_pull(github)
    rerunning(cluster, 0.0, 0.0)
    github.fail("GET", r"/pulls/2/files", 502, times=1000)

    await cluster.deliver("pull_request", pull_request_payload(), delivery_id="d1")
    with caplog.at_level(logging.WARNING):
        await cluster.work()

    assert github.count()[FILES] == 3 * 5  # three runs of five tries each
    outcomes = cluster.outcomes()
    assert (outcomes[("pull_request", "rerun")], outcomes[("pull_request", "given_up")]) == (2, 1)
    [line] = [r.getMessage() for r in caplog.records if "given up" in r.getMessage()]
    assert "delivery d1" in line
    assert await store.exists(body_key("d1"), delivery_key("d1")) == 0


async def test_newer_delivery_runs_at_once_and_supersedes_one_waiting_to_run_again(
    cluster: Cluster, github: FakeGitHub, store: redis.asyncio.Redis
) -> None:
    open_pull(github)
    rerunning(cluster, 30.0)
    github.fail("POST", r"/check-runs$", 502, times=4)  # the first run's every send
    await cluster.deliver("pull_request", pull_request_payload(), delivery_id="d-old")
    await cluster.work(jobs=1)  # fails; its job waits 30 s in the queue

    await cluster.deliver("pull_request", pull_request_payload("synchronize"), delivery_id="d-new")
    # Not in the waiting job's deferred place: a worker starts it at once.
    await asyncio.wait_for(cluster.work(jobs=1), 20)
    assert len(github.check_runs) == 1 and len(github.reviews(REPO, 2)) == 1

    await store.zadd("arq:queue", {"d-old": time.time() * 1000})  # its delay is over
    await cluster.work()

    assert cluster.outcomes()[("pull_request", "superseded")] == 1
    assert len(github.check_runs) == 1 and len(github.reviews(REPO, 2)) == 1


# The mark of a planned run again (wheelwatch:rerun:<delivery id>) goes with the job's other
# keys whichever way the job ends.


async def rerun_marks(store: redis.asyncio.Redis) -> list[bytes]:
    return sorted(await store.keys("wheelwatch:rerun:*"))


async def test_run_again_mark_is_deleted_when_the_run_again_is_processed(
    cluster: Cluster, github: FakeGitHub, store: redis.asyncio.Redis
) -> None:
    open_pull(github)
    rerunning(cluster, 0.0)
    github.fail("POST", r"/check-runs$", 502, times=4)  # every send of the first run

    await cluster.deliver("pull_request", pull_request_payload(), delivery_id="d1")
    await cluster.work()

    assert cluster.outcomes()[("pull_request", "rerun")] == 1
    assert cluster.outcomes()[("pull_request", "processed")] == 1
    assert await rerun_marks(store) == []


async def test_run_again_mark_is_deleted_when_the_delivery_is_given_up_after_its_runs_again(
    cluster: Cluster, github: FakeGitHub, store: redis.asyncio.Redis
) -> None:
    open_pull(github)
    rerunning(cluster, 0.0)
    github.fail("GET", r"/pulls/2/files", 502, times=1000)

    await cluster.deliver("pull_request", pull_request_payload(), delivery_id="d1")
    await cluster.work()

    assert cluster.outcomes()[("pull_request", "given_up")] == 1
    assert await rerun_marks(store) == []


async def test_run_again_mark_is_deleted_when_arq_runs_the_job_out_of_tries(
    cluster: Cluster, github: FakeGitHub, store: redis.asyncio.Redis
) -> None:
    open_pull(github)
    rerunning(cluster, 0.0)
    github.fail("POST", r"/check-runs$", 502, times=4)  # every send of the first run
    await cluster.deliver("pull_request", pull_request_payload(), delivery_id="d1")
    await cluster.work(jobs=1)  # fails on GitHub; its run again is planned
    assert await rerun_marks(store) == [b"wheelwatch:rerun:d1"]
    # What workers killed on its run again leave: arq fails the job without running it.
    await store.set("arq:retry:d1", MAX_TRIES + 1)

    await cluster.work()

    assert cluster.outcomes()[("pull_request", "given_up")] == 1
    assert await rerun_marks(store) == []


async def test_run_again_mark_is_deleted_when_arq_times_the_run_again_out(
    cluster: Cluster, github: FakeGitHub, store: redis.asyncio.Redis
) -> None:
    open_pull(github)
    rerunning(cluster, 0.0)
    github.fail("POST", r"/check-runs$", 502, times=4)  # every send of the first run
    await cluster.deliver("pull_request", pull_request_payload(), delivery_id="d1")
    await cluster.work(jobs=1)  # fails on GitHub; its run again is planned
    assert await rerun_marks(store) == [b"wheelwatch:rerun:d1"]
    github.hold(r"/pulls/2/files")  # never answered: the run again runs into arq's timeout
    worker = build_worker(
        cluster.config, github_factory=github_factory, burst=True, handle_signals=False
    )
    worker.job_timeout_s = 0.5  # JOB_TIMEOUT's 900 s, shortened: the timeout is what is tested

    await worker.main()
    await worker.close()

    assert worker.ctx["metrics"].deliveries[("pull_request", "given_up")] == 1
    assert await rerun_marks(store) == []


async def test_run_again_mark_is_deleted_when_a_later_delivery_replaces_the_waiting_job(
    cluster: Cluster,
    github: FakeGitHub,
    store: redis.asyncio.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def fails(*_args: object) -> None:
        raise RedisConnectionError("Redis went away for a moment")

    open_pull(github)
    rerunning(cluster, 30.0)
    github.fail("POST", r"/check-runs$", 502, times=4)  # every send of the first run
    # The job stays its subject's waiting one: a later delivery replaces it in the queue.
    monkeypatch.setattr(worker_module, "unqueue", fails)
    await cluster.deliver("pull_request", pull_request_payload(), delivery_id="d1")
    await cluster.work(jobs=1)  # fails on GitHub; its run again is planned in 30 s
    assert await rerun_marks(store) == [b"wheelwatch:rerun:d1"]

    await cluster.deliver("pull_request", pull_request_payload("synchronize"), delivery_id="d2")

    assert await queued(store) == ["d2"]
    assert await rerun_marks(store) == []


# arq's own machinery: its log lines, the jobs it gives up, how much of its queue it reads.


@pytest.fixture
def delivery_lines(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """The log records, each with the delivery field that serve and worker add to theirs."""
    caplog.handler.addFilter(DeliveryField())
    caplog.set_level(logging.INFO)
    return caplog


def arq_lines(caplog: pytest.LogCaptureFixture, text: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "arq.worker" and text in r.getMessage()]


async def test_arq_lines_of_a_job_start_and_end_carry_its_delivery_id(
    cluster: Cluster, github: FakeGitHub, delivery_lines: pytest.LogCaptureFixture
) -> None:
    open_pull(github)
    await cluster.deliver("pull_request", pull_request_payload(), delivery_id="d1")

    await cluster.work()

    lines = arq_lines(delivery_lines, "d1:process_delivery")
    assert [r.getMessage().split()[1] for r in lines] == ["→", "←"]
    assert [getattr(r, "delivery", None) for r in lines] == ["d1", "d1"]


async def test_arq_line_of_a_retry_carries_its_delivery_id(
    cluster: Cluster,
    github: FakeGitHub,
    monkeypatch: pytest.MonkeyPatch,
    delivery_lines: pytest.LogCaptureFixture,
) -> None:
    open_pull(github)
    failures = redis_fails_once_as_a_job_starts(monkeypatch)
    await cluster.deliver("pull_request", pull_request_payload(), delivery_id="d1")
    await cluster.work()

    assert failures == []
    [retry] = arq_lines(delivery_lines, "retrying job")
    assert getattr(retry, "delivery", None) == "d1"


async def test_arq_line_in_json_names_its_delivery_in_the_delivery_field(
    cluster: Cluster, github: FakeGitHub, delivery_lines: pytest.LogCaptureFixture
) -> None:
    open_pull(github)
    await cluster.deliver("pull_request", pull_request_payload(), delivery_id="d1")

    await cluster.work()

    [start, _end] = arq_lines(delivery_lines, "d1:process_delivery")
    entry = json.loads(JsonLines().format(start))
    assert (entry["logger"], entry["delivery"]) == ("arq.worker", "d1")


async def test_delivery_id_that_could_break_a_log_line_is_refused_and_nothing_is_queued(
    cluster: Cluster, store: redis.asyncio.Redis
) -> None:
    # aiohttp refuses CR, LF and control bytes in a header; these reach the handler. The
    # signature does not cover headers: one signed body can be replayed under any id.
    forged = ["d1\u2028forged line", "d1\tforged", "d1 forged"]

    statuses = [
        (await cluster.deliver("pull_request", pull_request_payload(), delivery_id=d)).status
        for d in forged
    ]

    assert statuses == [400, 400, 400]
    assert await store.zcard("arq:queue") == 0


async def test_delivery_whose_job_ran_out_of_tries_can_be_redelivered(
    cluster: Cluster, github: FakeGitHub, store: redis.asyncio.Redis
) -> None:
    open_pull(github)
    await cluster.deliver("pull_request", pull_request_payload(), delivery_id="d1")
    # arq counts a try each time it starts the job: what five workers killed on it leave.
    await store.set("arq:retry:d1", MAX_TRIES)
    await cluster.work()  # arq fails the job without running it: max tries exceeded
    assert await queued(store) == []

    again = await cluster.deliver("pull_request", pull_request_payload(), delivery_id="d1")
    await cluster.work()

    assert again.status == 202
    assert len(github.reviews(REPO, 2)) == 1


async def test_job_out_of_tries_drops_its_body(
    cluster: Cluster, store: redis.asyncio.Redis
) -> None:
    await cluster.deliver("pull_request", pull_request_payload(), delivery_id="d1")
    await store.set("arq:retry:d1", MAX_TRIES)

    await cluster.work()

    assert await store.exists(body_key("d1")) == 0


async def test_job_out_of_tries_is_logged_as_an_error_naming_its_delivery_and_counted(
    cluster: Cluster, store: redis.asyncio.Redis, delivery_lines: pytest.LogCaptureFixture
) -> None:
    await cluster.deliver("pull_request", pull_request_payload(), delivery_id="d1")
    await store.set("arq:retry:d1", MAX_TRIES)

    await cluster.work()

    errors = [r for r in delivery_lines.records if r.levelno >= logging.ERROR]
    [line] = [r for r in errors if "given up" in r.getMessage()]
    assert "delivery d1" in line.getMessage()
    assert getattr(line, "delivery", None) == "d1"
    assert [getattr(r, "delivery", None) for r in arq_lines(delivery_lines, "exceeded")] == ["d1"]
    assert cluster.outcomes() == {("pull_request", "given_up"): 1}


async def test_delivery_whose_job_start_kept_failing_on_redis_is_given_up_and_forgotten(
    cluster: Cluster, store: redis.asyncio.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def fails(lease: JobLease) -> bool:
        raise RedisConnectionError("Redis keeps going away")

    monkeypatch.setattr(JobLease, "take", fails)
    monkeypatch.setattr(worker_module, "REDIS_RETRY_SECONDS", 0)  # tries again at once
    await cluster.deliver("pull_request", pull_request_payload(), delivery_id="d1")

    await cluster.work()

    assert cluster.outcomes() == {("pull_request", "given_up"): 1}
    assert await store.exists(body_key("d1"), delivery_key("d1")) == 0


async def test_free_worker_starts_a_queued_job_behind_more_running_jobs_than_it_reads(
    cluster: Cluster, github: FakeGitHub, store: redis.asyncio.Redis
) -> None:
    open_pull(github)
    worker = build_worker(cluster.config, github_factory=github_factory, handle_signals=False)
    accepted = await cluster.deliver("pull_request", pull_request_payload(), delivery_id="d1")
    # Jobs other workers run: arq keeps them in its queue, ahead of d1, until they end.
    running = [f"running-{n}" for n in range(worker.queue_read_limit + 1)]
    await store.zadd("arq:queue", {job: now_ms() - 60_000 + n for n, job in enumerate(running)})
    for job in running:
        await store.set(f"arq:in-progress:{job}", b"1", px=60_000)
    started, release = github.hold(r"/pulls/2/files")

    polling = asyncio.create_task(worker.main())
    # A bound for a failing test, not a wait for the work: d1's job sets started.
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(started.wait(), 10)
    release.set()
    polling.cancel()
    await worker.close()

    assert accepted.status == 202
    assert started.is_set()


async def test_poll_reads_past_running_jobs_and_no_further_than_the_jobs_it_wants(
    store: redis.asyncio.Redis,
) -> None:
    queue = {f"job-{n}": n for n in range(60)}
    await store.zadd("arq:queue", queue)
    for n in (0, 1, 3):  # run by workers
        await store.set(f"arq:in-progress:job-{n}", b"1", px=60_000)
    free_jobs = store.register_script(FREE_JOBS)
    await store.config_resetstat()

    read = [f"job-{n}" for n in range(5)]  # arq's read: a full window of 5

    free = await free_jobs(keys=["arq:queue"], args=[now_ms(), 5, "arq:in-progress:", *read])

    assert [job.decode() for job in free] == ["job-2", "job-4", "job-5", "job-6", "job-7"]
    commands = await store.info("commandstats")
    assert commands["cmdstat_exists"]["calls"] == 8  # the 3 running jobs and the 5 free ones


async def test_poll_reads_no_further_when_arqs_read_did_not_fill_its_window(
    store: redis.asyncio.Redis,
) -> None:
    await store.zadd("arq:queue", {"job-0": 0, "job-1": 1})
    await store.set("arq:in-progress:job-0", b"1", px=60_000)
    free_jobs = store.register_script(FREE_JOBS)
    await store.config_resetstat()

    free = await free_jobs(
        keys=["arq:queue"], args=[now_ms(), 5, "arq:in-progress:", "job-0", "job-1"]
    )

    assert [job.decode() for job in free] == ["job-1"]
    assert "cmdstat_zrangebyscore" not in await store.info("commandstats")


async def test_arq_line_of_a_job_cancelled_by_the_shutdown_carries_its_delivery_id(
    cluster: Cluster, github: FakeGitHub, delivery_lines: pytest.LogCaptureFixture
) -> None:
    open_pull(github)
    arrived, _never_released = github.hold(r"/pulls/2/files")
    await cluster.deliver("pull_request", pull_request_payload(), delivery_id="d1")
    worker = build_worker(cluster.config, github_factory=github_factory, handle_signals=False)
    polling = asyncio.create_task(worker.main())
    await arrived.wait()

    polling.cancel()
    await worker.close()  # cancels the running job, as a shutdown's end does

    [cancelled] = arq_lines(delivery_lines, "cancelled, will be run again")
    assert getattr(cancelled, "delivery", None) == "d1"


async def test_delivery_whose_job_arq_timed_out_is_given_up_and_can_be_redelivered(
    cluster: Cluster,
    github: FakeGitHub,
    store: redis.asyncio.Redis,
    delivery_lines: pytest.LogCaptureFixture,
) -> None:
    open_pull(github)
    github.hold(r"/pulls/2/files")  # never answered: the job runs into arq's timeout
    await cluster.deliver("pull_request", pull_request_payload(), delivery_id="d1")
    worker = build_worker(
        cluster.config, github_factory=github_factory, burst=True, handle_signals=False
    )
    worker.job_timeout_s = 0.5  # JOB_TIMEOUT's 900 s, shortened: the timeout is what is tested
    await worker.main()
    await worker.close()
    body_left = await store.exists(body_key("d1"))

    again = await cluster.deliver("pull_request", pull_request_payload(), delivery_id="d1")

    assert again.status == 202
    assert body_left == 0
    assert worker.ctx["metrics"].deliveries[("pull_request", "given_up")] == 1
    [line] = [r for r in delivery_lines.records if "given up" in r.getMessage()]
    assert (line.levelno, getattr(line, "delivery", None)) == (logging.ERROR, "d1")


async def expire_job(store: redis.asyncio.Redis, delivery_id: str) -> None:
    """What a day in the queue with no worker leaves: arq's job key gone (its TTL,
    JOB_EXPIRES_MS, ran out) while the id stays in arq's queue. The delivery's other keys
    expire at about the same time, but each on its own: the body and a run-again mark may
    still be there."""
    await store.set(rerun_key(delivery_id), 2)
    await store.delete(f"arq:job:{delivery_id}")


async def test_job_arq_drops_as_expired_is_logged_as_an_error_naming_its_delivery(
    cluster: Cluster, store: redis.asyncio.Redis, delivery_lines: pytest.LogCaptureFixture
) -> None:
    await cluster.deliver("pull_request", pull_request_payload(), delivery_id="d1")
    await expire_job(store, "d1")

    await cluster.work()

    errors = [r for r in delivery_lines.records if r.levelno >= logging.ERROR]
    [line] = [r for r in errors if "expired" in r.getMessage()]
    assert "delivery d1" in line.getMessage()
    assert "unprocessed" in line.getMessage()
    assert "redeliver it" in line.getMessage()
    assert getattr(line, "delivery", None) == "d1"


async def test_job_arq_drops_as_expired_is_counted_given_up_under_an_existing_event_label(
    cluster: Cluster, store: redis.asyncio.Redis
) -> None:
    await cluster.deliver("pull_request", pull_request_payload(), delivery_id="d1")
    await expire_job(store, "d1")

    await cluster.work()

    # Its event was in the job arq lost: counted as the events outside the App's are.
    assert cluster.outcomes() == {("other", "given_up"): 1}


async def test_job_arq_drops_as_expired_leaves_no_body_nor_run_again_mark(
    cluster: Cluster, store: redis.asyncio.Redis
) -> None:
    await cluster.deliver("pull_request", pull_request_payload(), delivery_id="d1")
    await expire_job(store, "d1")

    await cluster.work()

    assert await store.exists(body_key("d1"), rerun_key("d1")) == 0
    assert await queued(store) == []


async def test_delivery_whose_job_expired_is_processed_on_redelivery(
    cluster: Cluster, github: FakeGitHub, store: redis.asyncio.Redis
) -> None:
    open_pull(github)
    await cluster.deliver("pull_request", pull_request_payload(), delivery_id="d1")
    await expire_job(store, "d1")
    await cluster.work()

    again = await cluster.deliver("pull_request", pull_request_payload(), delivery_id="d1")
    await cluster.work()

    assert again.status == 202
    assert len(github.reviews(REPO, 2)) == 1


async def test_worker_whose_analysis_process_is_killed_mid_job_posts_the_review_and_one_line(
    cluster: Cluster,
    github: FakeGitHub,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The worker's processor runs its analyses in a ProcessPool of its own: the same code as
    # the embedded mode's (tests/test_app_analysis_process_deaths.py), here once end to end.
    caplog.set_level(logging.INFO)
    open_pull(github)
    jobs = Jobs(monkeypatch)
    jobs.replace(run_engine, pool_jobs.kill_own_process)

    await cluster.deliver("pull_request", pull_request_payload())
    await cluster.work()

    assert len(github.reviews(REPO, 2)) == 1
    assert [r.getMessage() for r in caplog.records if r.exc_info or r.exc_text] == []
    [killed, _replacement] = jobs.pids["run_engine"]
    [line] = [r.getMessage() for r in caplog.records if f"process {killed} " in r.getMessage()]
    assert "SIGKILL" in line

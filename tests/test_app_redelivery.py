"""What a failed delivery leaves behind: nothing that stops it, or its commit, coming again.

A delivery id counts as seen once the delivery was processed, so GitHub's redelivery of a
failed one is processed; a commit claimed for a check run that was never created is free
for the next delivery about it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import pytest
from app_fixtures import Bot
from fake_github import (
    HEAD_SHA,
    REPO,
    UNSAFE_WORKFLOW,
    FakeGitHub,
    added_patch,
    pull_request_payload,
    webhook,
)

from bot.app.server import SERVICE

WORKFLOW = ".github/workflows/ci.yml"


def open_unsafe_pull(github: FakeGitHub) -> None:
    github.add_file(REPO, HEAD_SHA, WORKFLOW, UNSAFE_WORKFLOW)
    github.add_pull(
        REPO, 2, [{"filename": WORKFLOW, "status": "added", "patch": added_patch(UNSAFE_WORKFLOW)}]
    )


def suite_for_pull(action: str) -> dict[str, Any]:
    """A check_suite event about pull request 2's head commit."""
    suite = webhook(f"check_suite.{action}.1")
    suite["check_suite"]["head_sha"] = HEAD_SHA
    suite["check_suite"]["pull_requests"] = [{"number": 2}]
    return suite


async def test_a_delivery_dropped_in_an_outage_is_processed_when_redelivered(
    bot: Bot, github: FakeGitHub
) -> None:
    open_unsafe_pull(github)
    github.fail("GET", r"/pulls/2/files", 502, times=5)  # every attempt
    first = await bot.deliver("pull_request", pull_request_payload(), delivery_id="d-1")
    await bot.settle()
    assert first.status == 202 and github.reviews(REPO, 2) == []

    again = await bot.deliver("pull_request", pull_request_payload(), delivery_id="d-1")
    await bot.settle()

    assert again.status == 202
    assert len(github.reviews(REPO, 2)) == 1
    outcomes = bot.app[SERVICE].metrics.deliveries
    assert outcomes[("pull_request", "processed")] == 1


async def test_a_redelivery_of_a_delivery_still_waiting_is_a_duplicate(
    bot: Bot, github: FakeGitHub
) -> None:
    open_unsafe_pull(github)
    arrived, release = github.hold(r"/pulls/2/files")
    await bot.deliver("pull_request", pull_request_payload(), delivery_id="d-1")
    await arrived.wait()

    again = await bot.deliver("pull_request", pull_request_payload(), delivery_id="d-1")
    release.set()
    await bot.settle()

    assert again.status == 200 and (await again.json())["status"] == "duplicate"
    assert len(github.reviews(REPO, 2)) == 1


async def test_a_delivery_processed_and_redelivered_is_a_duplicate(
    bot: Bot, github: FakeGitHub
) -> None:
    open_unsafe_pull(github)
    await bot.deliver("pull_request", pull_request_payload(), delivery_id="d-1")
    await bot.settle()

    again = await bot.deliver("pull_request", pull_request_payload(), delivery_id="d-1")

    assert again.status == 200 and (await again.json())["status"] == "duplicate"


async def test_a_check_run_that_could_not_be_created_leaves_the_commit_to_the_next_delivery(
    bot: Bot, github: FakeGitHub
) -> None:
    open_unsafe_pull(github)
    github.fail("POST", r"/check-runs$", 403, body={"message": "Resource not accessible"})
    await bot.deliver("pull_request", pull_request_payload())
    await bot.settle()
    assert github.check_runs == {}

    await bot.deliver("check_suite", suite_for_pull("requested"))
    await bot.settle()

    [run] = github.check_runs.values()
    assert run.request["head_sha"] == HEAD_SHA and run.status == "completed"


async def test_a_commit_whose_tree_could_not_be_read_is_left_to_the_next_delivery(
    bot: Bot, github: FakeGitHub
) -> None:
    open_unsafe_pull(github)
    github.fail("GET", r"/git/trees/", 404, body={"message": "Not Found"})
    await bot.deliver("check_suite", suite_for_pull("requested"))
    await bot.settle()
    assert github.check_runs == {}

    await bot.deliver("pull_request", pull_request_payload("reopened"))
    await bot.settle()

    [run] = github.check_runs.values()
    assert run.status == "completed"


async def test_a_delivery_whose_check_run_creation_failed_every_try_is_run_again(
    make_bot: Callable[..., Any], github: FakeGitHub
) -> None:
    bot: Bot = await make_bot(rerun_delays=(0.0,))
    open_unsafe_pull(github)
    github.fail("POST", r"/check-runs$", 502, times=4)  # every send of the first run

    await bot.deliver("pull_request", pull_request_payload(), delivery_id="d-1")
    await bot.settle()

    [run] = github.check_runs.values()
    assert run.status == "completed"
    assert len(github.reviews(REPO, 2)) == 1
    assert bot.app[SERVICE].metrics.deliveries[("pull_request", "processed")] == 1


async def test_a_rerun_of_a_delivery_that_created_its_check_run_posts_nothing_twice(
    make_bot: Callable[..., Any], github: FakeGitHub
) -> None:
    bot: Bot = await make_bot(rerun_delays=(0.0,))
    open_unsafe_pull(github)
    github.fail("POST", r"/pulls/2/reviews$", 502, times=4)  # after the check run exists

    await bot.deliver("pull_request", pull_request_payload(), delivery_id="d-1")
    await bot.settle()

    assert len(github.check_runs) == 1
    assert len(github.reviews(REPO, 2)) == 1


async def test_a_delivery_refused_with_a_404_is_not_run_again(
    make_bot: Callable[..., Any], github: FakeGitHub
) -> None:
    bot: Bot = await make_bot(rerun_delays=(0.0,))
    open_unsafe_pull(github)
    github.fail("GET", r"/pulls/2/files", 404)

    await bot.deliver("pull_request", pull_request_payload(), delivery_id="d-1")
    await bot.settle()

    assert github.count()["GET /repos/{owner}/{repo}/pulls/{pull_number}/files"] == 1
    assert bot.app[SERVICE].metrics.deliveries[("pull_request", "rerun")] == 0


async def test_a_delivery_still_failing_after_its_reruns_is_given_up_once_and_named(
    make_bot: Callable[..., Any], github: FakeGitHub, caplog: pytest.LogCaptureFixture
) -> None:
    bot: Bot = await make_bot(rerun_delays=(0.0, 0.0))
    open_unsafe_pull(github)
    github.fail("GET", r"/pulls/2/files", 502, times=1000)

    with caplog.at_level(logging.WARNING):
        await bot.deliver("pull_request", pull_request_payload(), delivery_id="d-1")
        await bot.settle()

    assert github.count()["GET /repos/{owner}/{repo}/pulls/{pull_number}/files"] == 3 * 5
    outcomes = bot.app[SERVICE].metrics.deliveries
    assert (outcomes[("pull_request", "rerun")], outcomes[("pull_request", "given_up")]) == (2, 1)
    [line] = [r.getMessage() for r in caplog.records if "given up" in r.getMessage()]
    assert "delivery d-1" in line


async def test_a_rerun_of_a_delivery_superseded_meanwhile_posts_nothing(
    make_bot: Callable[..., Any], github: FakeGitHub
) -> None:
    bot: Bot = await make_bot(rerun_delays=(30.0,))
    service = bot.app[SERVICE]
    timer_done = asyncio.Event()

    async def timer(_delay: float) -> None:
        await timer_done.wait()

    service.rerun_timer = timer
    open_unsafe_pull(github)
    github.fail("POST", r"/check-runs$", 502, times=4)  # the first run's every send
    await bot.deliver("pull_request", pull_request_payload(), delivery_id="d-old")
    await service.queue.join()
    assert "d-old" in service.reruns
    await bot.deliver("pull_request", pull_request_payload("synchronize"), delivery_id="d-new")
    await service.queue.join()  # the newer one is processed while the older waits

    timer_done.set()
    await bot.settle()

    outcomes = service.metrics.deliveries
    assert outcomes[("pull_request", "superseded")] == 1
    assert outcomes[("pull_request", "processed")] == 1
    assert len(github.check_runs) == 1 and len(github.reviews(REPO, 2)) == 1


async def test_the_drain_names_a_pending_rerun_as_not_started(
    make_bot: Callable[..., Any], github: FakeGitHub, caplog: pytest.LogCaptureFixture
) -> None:
    bot: Bot = await make_bot(rerun_delays=(600.0,))
    open_unsafe_pull(github)
    github.fail("GET", r"/pulls/2/files", 502, times=5)
    await bot.deliver("pull_request", pull_request_payload(), delivery_id="d-1")
    await bot.app[SERVICE].queue.join()  # its first run failed; it waits to run again
    assert "d-1" in bot.app[SERVICE].reruns

    with caplog.at_level(logging.INFO):
        await asyncio.wait_for(bot.client.close(), 10)  # SIGTERM's drain, then the exit

    [line] = [r.getMessage() for r in caplog.records if "not started" in r.getMessage()]
    assert "delivery d-1" in line
    assert bot.app[SERVICE].metrics.deliveries[("pull_request", "not_started")] == 1


async def test_a_rerun_that_finds_the_queue_full_waits_again_named_and_keeps_its_tries(
    make_bot: Callable[..., Any], github: FakeGitHub, caplog: pytest.LogCaptureFixture
) -> None:
    bot: Bot = await make_bot(rerun_delays=(30.0,), workers=1, queue_size=1)
    service = bot.app[SERVICE]
    ticks: asyncio.Queue[None] = asyncio.Queue()
    waited: list[float] = []

    async def timer(delay: float) -> None:
        waited.append(delay)
        await ticks.get()  # one put ends one wait

    service.rerun_timer = timer
    open_unsafe_pull(github)
    github.add_pull(REPO, 3, [{"filename": WORKFLOW, "status": "added", "patch": "@@ -0,0 +1 @@"}])
    github.add_pull(REPO, 4, [{"filename": WORKFLOW, "status": "added", "patch": "@@ -0,0 +1 @@"}])
    github.fail("GET", r"/pulls/2/files", 502, times=5)  # every try of d-1's first run
    await bot.deliver("pull_request", pull_request_payload(), delivery_id="d-1")
    await service.queue.join()
    # The one worker is held on pull request 3; pull request 4 fills the one place.
    arrived, release = github.hold(r"/pulls/3/files")
    await bot.deliver("pull_request", pull_request_payload(number=3), delivery_id="d-3")
    await arrived.wait()
    await bot.deliver("pull_request", pull_request_payload(number=4), delivery_id="d-4")
    assert service.queue.full()

    _job, first_wait = service.reruns["d-1"]
    with caplog.at_level(logging.WARNING):
        ticks.put_nowait(None)
        await first_wait

    job, _again = service.reruns["d-1"]  # waiting again, not lost
    assert job.runs == 2 and waited == [30.0, 30.0]
    [line] = [r.getMessage() for r in caplog.records if "queue is full" in r.getMessage()]
    assert "delivery d-1" in line

    release.set()
    await service.queue.join()
    ticks.put_nowait(None)
    await bot.settle()

    outcomes = service.metrics.deliveries
    assert outcomes[("pull_request", "given_up")] == 0
    assert outcomes[("pull_request", "processed")] == 3
    assert github.count()["GET /repos/{owner}/{repo}/pulls/{pull_number}/files"] == 5 + 1 + 2
    assert len(github.reviews(REPO, 2)) == 1


async def test_a_run_failing_on_github_during_the_drain_is_named_not_started(
    make_bot: Callable[..., Any], github: FakeGitHub, caplog: pytest.LogCaptureFixture
) -> None:
    bot: Bot = await make_bot(rerun_delays=(600.0,))
    service = bot.app[SERVICE]
    open_unsafe_pull(github)
    arrived, release = github.hold(r"/pulls/2/files")
    github.fail("GET", r"/pulls/2/files", 502, times=5)  # every try, once released

    class ReleaseWhenDraining(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.getMessage().startswith("draining"):
                release.set()  # the drain has begun: the held run fails now

    await bot.deliver("pull_request", pull_request_payload(), delivery_id="d-1")
    await arrived.wait()
    server_log, handler = logging.getLogger("bot.app.server"), ReleaseWhenDraining()
    server_log.addHandler(handler)
    try:
        with caplog.at_level(logging.INFO):
            await asyncio.wait_for(bot.client.close(), 10)
    finally:
        server_log.removeHandler(handler)

    assert service.reruns == {}  # no task left waiting past the shutdown
    [line] = [r.getMessage() for r in caplog.records if "not started" in r.getMessage()]
    assert "delivery d-1" in line
    assert service.metrics.deliveries[("pull_request", "not_started")] == 1


async def test_a_run_again_stores_each_annotation_its_first_run_stored_once(
    make_bot: Callable[..., Any], github: FakeGitHub
) -> None:
    bot: Bot = await make_bot(rerun_delays=(0.0,))
    paths = [f".github/workflows/ci{n}.yml" for n in range(60)]  # 60 annotations: 2 batches
    for path in paths:
        github.add_file(REPO, HEAD_SHA, path, UNSAFE_WORKFLOW)
    files = [
        {"filename": p, "status": "added", "patch": added_patch(UNSAFE_WORKFLOW)} for p in paths
    ]
    github.add_pull(REPO, 2, files)
    # The first batch of 50 is stored; every send of the second fails, and the first run with
    # it (its check run is then closed as "could not finish").
    github.fail("PATCH", r"/check-runs/\d+$", 502, times=4, after=1)

    await bot.deliver("pull_request", pull_request_payload(), delivery_id="d-1")
    await bot.settle()

    [run] = github.check_runs.values()
    assert run.status == "completed"
    assert sorted(a["path"] for a in run.annotations) == sorted(paths)

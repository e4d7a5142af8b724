"""Faults and load: each delivery is processed exactly once, back-pressure is explicit.

A CI-sized version of ``bench/end_to_end.py --faults``: the fake GitHub fails a seeded random
share of calls (502s, stalls the client times out on, secondary rate limits with
``retry-after``); the App's waits are recorded, never slept. Reviews and check runs are counted
on the fake. No test sleeps to synchronise: holds on the fake and the queue's ``join`` do.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
from conftest import Bot
from fake_github import (
    REPO,
    SAFE_WORKFLOW,
    UNSAFE_WORKFLOW,
    Chaos,
    FakeGitHub,
    added_patch,
    pull_request_payload,
)

from bot.app.config import AppConfig
from bot.app.github import GitHubApp, RetryPolicy
from bot.app.metrics import Metrics
from bot.app.server import SERVICE, create_app

WORKFLOW = ".github/workflows/ci.yml"
KINDS = ("none", "clean", "unsafe")


def sha(number: int) -> str:
    return f"{number:040x}"


def add_pulls(github: FakeGitHub, numbers: range) -> dict[int, str]:
    """PR n changes no workflow (n % 3 == 0), adds a clean one (1) or an unsafe one (2)."""
    kinds = {}
    for number in numbers:
        kind = kinds[number] = KINDS[number % 3]
        if kind == "none":
            files = [{"filename": "README.md", "status": "modified", "patch": "@@ -1 +1 @@\n+b"}]
        else:
            text = SAFE_WORKFLOW if kind == "clean" else UNSAFE_WORKFLOW
            github.add_file(REPO, sha(number), WORKFLOW, text)
            files = [{"filename": WORKFLOW, "status": "added", "patch": added_patch(text)}]
        github.add_pull(REPO, number, files)
    return kinds


def payload(number: int) -> dict[str, Any]:
    return pull_request_payload(number=number, head_sha=sha(number))


def posted(github: FakeGitHub, number: int) -> tuple[int, list[str]]:
    """Reviews on PR ``number`` and the status of each check run on its head commit."""
    runs = [
        run.status for run in github.check_runs.values() if run.request["head_sha"] == sha(number)
    ]
    return len(github.reviews(REPO, number)), runs


def exactly_once_problems(github: FakeGitHub, kinds: dict[int, str]) -> list[str]:
    problems = []
    for number, kind in kinds.items():
        reviews, runs = posted(github, number)
        expected = (1 if kind == "unsafe" else 0, [] if kind == "none" else ["completed"])
        if (reviews, runs) != expected:
            problems.append(f"PR {number} ({kind}): {reviews} reviews, check runs {runs}")
    return problems


@pytest.fixture
def chaos_bot(aiohttp_client: Callable[..., Any], app_config: AppConfig) -> Callable[..., Any]:
    """Like ``make_bot``, with a short client timeout so injected stalls cost 0.3 s."""

    async def make(**config_changes: Any) -> Bot:
        waits: list[float] = []

        async def sleep(seconds: float) -> None:
            waits.append(seconds)  # recorded, never slept

        def factory(
            session: aiohttp.ClientSession, config: AppConfig, metrics: Metrics
        ) -> GitHubApp:
            return GitHubApp(
                session,
                app_id=config.app_id,
                private_key=config.private_key,
                api_url=config.api_url,
                metrics=metrics,
                sleep=sleep,
                policy=RetryPolicy(timeout=0.3),
            )

        config = AppConfig(**{**app_config.__dict__, **config_changes})
        app = create_app(config, github_factory=factory)
        return Bot(await aiohttp_client(app), app, waits)

    return make


async def test_every_delivery_is_processed_once_despite_502s_stalls_and_rate_limits(
    chaos_bot: Callable[..., Any], github: FakeGitHub
) -> None:
    bot: Bot = await chaos_bot(workers=8, queue_size=128)
    kinds = add_pulls(github, range(1, 100))
    github.chaos = Chaos(
        server_errors=0.05, timeouts=0.02, rate_limits=0.01, stall_seconds=1.0, seed=4
    )

    responses = await asyncio.gather(
        *(bot.deliver("pull_request", payload(n), delivery_id=f"d-{n}") for n in kinds)
    )
    await asyncio.wait_for(bot.settle(), 30)

    assert [r.status for r in responses] == [202] * len(kinds)
    assert exactly_once_problems(github, kinds) == []
    outcomes = bot.app[SERVICE].metrics.deliveries
    assert outcomes[("pull_request", "processed")] == len(kinds)
    # Every kind of fault was injected and retried: backoffs, and retry-after: 1.
    assert set(github.chaos.injected) == {"502", "timeout", "403"}
    assert 1.0 in bot.waits and len(bot.waits) >= sum(github.chaos.injected.values())


async def test_a_burst_beyond_workers_and_queue_gets_503s_and_loses_nothing(
    make_bot: Callable[..., Any], github: FakeGitHub
) -> None:
    bot: Bot = await make_bot(workers=2, queue_size=4)
    kinds = add_pulls(github, range(1, 21))
    arrived, release = github.hold(r"/pulls/\d+/files")
    service = bot.app[SERVICE]

    first = await asyncio.gather(
        *(bot.deliver("pull_request", payload(n), delivery_id=f"d-{n}") for n in kinds)
    )
    await arrived.wait()  # the workers are busy; nothing more can be taken
    statuses = Counter(r.status for r in first)
    refused = [n for n, r in zip(kinds, first, strict=True) if r.status == 503]

    # Bounded: at most a queue's worth waiting plus one delivery per worker accepted.
    assert set(statuses) == {202, 503}
    assert 4 <= statuses[202] <= 4 + 2
    assert service.queue.qsize() <= 4 and len(service.order) <= 4 + 2
    release.set()
    await asyncio.wait_for(bot.settle(), 10)
    accepted = {n: kinds[n] for n in kinds if n not in refused}
    assert exactly_once_problems(github, accepted) == []
    assert all(posted(github, n) == (0, []) for n in refused)

    # GitHub redelivers the failed ones with the same id: each is processed, once.
    again = []
    for n in refused:
        again.append((await bot.deliver("pull_request", payload(n), delivery_id=f"d-{n}")).status)
        await bot.settle()
    assert again == [202] * len(refused)
    assert exactly_once_problems(github, kinds) == []
    assert service.metrics.deliveries[("pull_request", "processed")] == len(kinds)


async def test_shutdown_in_the_middle_of_a_burst_finishes_everything_accepted(
    make_bot: Callable[..., Any], github: FakeGitHub
) -> None:
    # The same drain runs on SIGTERM; tests/test_app_shutdown.py sends a real one.
    bot: Bot = await make_bot(workers=2, queue_size=10)
    kinds = add_pulls(github, range(1, 11))
    arrived, release = github.hold(r"/pulls/\d+/files")

    accepted = await asyncio.gather(
        *(bot.deliver("pull_request", payload(n), delivery_id=f"d-{n}") for n in kinds)
    )
    await arrived.wait()
    shutdown = asyncio.create_task(bot.app.shutdown())
    late = await bot.deliver("pull_request", payload(11), delivery_id="d-late")
    release.set()
    await asyncio.wait_for(shutdown, 10)

    assert [r.status for r in accepted] == [202] * len(kinds)
    assert late.status == 503
    assert exactly_once_problems(github, kinds) == []
    assert bot.app[SERVICE].queue.qsize() == 0

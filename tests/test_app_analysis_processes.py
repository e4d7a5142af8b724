"""No pull request can stall the others: analyses run in worker processes, bounded per
delivery, stopped by a newer delivery about the same pull request (issue #9, item 8)."""

from __future__ import annotations

import asyncio
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
from test_app_push import many_jobs_workflow

import bot.app.check_output as app_check_output
import bot.app.review as app_review
import bot.app.workflows as app_workflows
from bot.app import process_pool
from bot.app.process_pool import ProcessPool
from bot.app.server import SERVICE
from bot.app.workflows import run_engine

WORKFLOW = ".github/workflows/ci.yml"
NEW_HEAD = "0123456789abcdef0123456789abcdef01234567"
# 2,000 small jobs (~550 kB), one finding each: seconds of engine time.
HUGE_WORKFLOW = many_jobs_workflow(2000)


def open_pull(github: FakeGitHub, text: str, sha: str = HEAD_SHA) -> None:
    github.add_file(REPO, sha, WORKFLOW, text)
    github.add_pull(
        REPO, 2, [{"filename": WORKFLOW, "status": "added", "patch": added_patch(text)}]
    )


def pool_of(bot: Bot) -> ProcessPool:
    pool = bot.app[SERVICE].processor.pool
    assert pool is not None
    return pool


def analysis_started(monkeypatch: pytest.MonkeyPatch) -> asyncio.Event:
    """Set when a workflow has been handed to a worker process."""
    started = asyncio.Event()
    call = process_pool._Worker.call

    async def spy(worker: Any, fn: Callable[..., Any], *args: Any) -> Any:
        if fn is run_engine:
            started.set()
        return await call(worker, fn, *args)

    monkeypatch.setattr(process_pool._Worker, "call", spy)
    return started


async def test_engine_and_review_diffs_never_run_in_the_server_process(
    bot: Bot, github: FakeGitHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    def here(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("CPU-heavy work ran in the server process")

    monkeypatch.setattr(app_workflows, "analyse", here)
    monkeypatch.setattr(app_review, "suggestion_for", here)
    monkeypatch.setattr(app_review, "fix_diff", here)
    monkeypatch.setattr(app_check_output, "fix_diff", here)
    open_pull(github, UNSAFE_WORKFLOW)

    await bot.deliver("pull_request", pull_request_payload())
    await bot.settle()

    [review] = github.reviews(REPO, 2)
    assert "```suggestion" in review["_comments"][0]["body"]
    [run] = github.check_runs.values()
    assert "raw_details" in run.annotations[0]


async def test_unrelated_ack_answers_while_a_2000_job_workflow_is_analysed(
    bot: Bot, github: FakeGitHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    open_pull(github, HUGE_WORKFLOW)
    started = analysis_started(monkeypatch)

    await bot.deliver("pull_request", pull_request_payload())
    await started.wait()
    response = await bot.deliver("ping", webhook("ping.1"))

    assert response.status == 202
    assert pool_of(bot).running == 1  # the analysis had not finished when the ack came


async def test_newer_delivery_for_the_same_pull_request_stops_the_older_analysis(
    bot: Bot, github: FakeGitHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    open_pull(github, HUGE_WORKFLOW)
    github.add_file(REPO, NEW_HEAD, WORKFLOW, UNSAFE_WORKFLOW)
    started = analysis_started(monkeypatch)

    await bot.deliver("pull_request", pull_request_payload())
    await started.wait()
    await bot.deliver("pull_request", pull_request_payload("synchronize", head_sha=NEW_HEAD))
    await bot.settle()

    assert pool_of(bot).killed == 1
    assert bot.app[SERVICE].metrics.deliveries[("pull_request", "superseded")] == 1
    [review] = github.reviews(REPO, 2)
    assert review["commit_id"] == NEW_HEAD
    runs = {run.request["head_sha"]: run for run in github.check_runs.values()}
    assert runs[HEAD_SHA].conclusion == "neutral"
    assert "newer delivery" in runs[HEAD_SHA].output["summary"]
    assert len(runs[NEW_HEAD].annotations) == 1


async def test_delivery_past_its_analysis_time_reports_the_file_as_not_analysed(
    make_bot: Callable[..., Any], github: FakeGitHub
) -> None:
    bot: Bot = await make_bot(analysis_seconds=1.0)
    open_pull(github, HUGE_WORKFLOW)

    await bot.deliver("pull_request", pull_request_payload())
    await bot.settle()

    assert pool_of(bot).killed == 1
    [run] = github.check_runs.values()
    assert run.status == "completed"
    [annotation] = run.annotations
    assert "analysis time" in annotation["message"]


async def test_the_fix_pull_request_proves_its_fixes_outside_the_server_process(
    bot: Bot, github: FakeGitHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Proving fixes re-runs the engine per edit: in a thread it would still hold the GIL
    # while acknowledgements wait.
    from test_app_fix_pull_request import checked, fix_pressed, unsafe_repository

    import bot.app.fix_pull_request as app_fix_pull_request

    def here(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("fix proofs ran in the server process")

    monkeypatch.setattr(app_fix_pull_request, "fix_all", here)
    sha = unsafe_repository(github)
    await checked(bot, github, sha)

    await bot.deliver("check_run", fix_pressed(github, sha))
    await bot.settle()

    [pull] = github.open_pulls(REPO)
    assert "WW001" in pull["body"]


async def test_workflows_that_call_nothing_local_cost_no_process_call_for_callers_inputs(
    bot: Bot, github: FakeGitHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[str] = []
    call = process_pool._Worker.call

    async def spy(worker: Any, fn: Callable[..., Any], *args: Any) -> Any:
        sent.append(fn.__name__)
        return await call(worker, fn, *args)

    monkeypatch.setattr(process_pool._Worker, "call", spy)
    open_pull(github, UNSAFE_WORKFLOW)

    await bot.deliver("pull_request", pull_request_payload())
    await bot.settle()

    assert len(github.reviews(REPO, 2)) == 1
    assert "run_engine" in sent
    assert "caller_inputs" not in sent

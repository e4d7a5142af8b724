"""Writes whose answer was lost: GitHub applied them, the App never heard back.

The fake GitHub applies the call, then resets the connection, answers 502, or stalls past
the client's timeout (``FakeGitHub.lose``). A write is never repeated blindly: the App looks
for what it would have created first, so each pull request still gets one review, one check
run, and each annotation once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from app_fixtures import STALL_TIMEOUT, Bot
from fake_github import (
    HEAD_SHA,
    LOST_ANSWERS,
    REPO,
    UNSAFE_WORKFLOW,
    FakeGitHub,
    added_patch,
    pull_request_payload,
)

from bot.app.server import SERVICE

WORKFLOW = ".github/workflows/ci.yml"


@pytest.fixture
async def bot(make_bot: Callable[..., Any]) -> Bot:
    """The App with the stall tests' client timeout: a "stall" loses its answer that way."""
    made: Bot = await make_bot(client_timeout=STALL_TIMEOUT)
    return made


def open_unsafe_pull(github: FakeGitHub) -> None:
    github.add_file(REPO, HEAD_SHA, WORKFLOW, UNSAFE_WORKFLOW)
    github.add_pull(
        REPO, 2, [{"filename": WORKFLOW, "status": "added", "patch": added_patch(UNSAFE_WORKFLOW)}]
    )


async def review_pull_request(bot: Bot) -> None:
    response = await bot.deliver("pull_request", pull_request_payload())
    assert response.status == 202
    await bot.settle()


@pytest.mark.parametrize("how", LOST_ANSWERS)
async def test_a_check_run_created_but_unanswered_is_found_not_created_again(
    bot: Bot, github: FakeGitHub, how: str
) -> None:
    open_unsafe_pull(github)
    github.lose("POST", r"/check-runs$", how)

    await review_pull_request(bot)

    assert len(github.lost) == 1
    [run] = github.check_runs.values()
    assert (run.status, run.conclusion) == ("completed", "neutral")
    assert len(run.annotations) == 1
    assert bot.app[SERVICE].metrics.deliveries[("pull_request", "processed")] == 1


@pytest.mark.parametrize("how", LOST_ANSWERS)
async def test_a_review_posted_but_unanswered_is_not_posted_again(
    bot: Bot, github: FakeGitHub, how: str
) -> None:
    open_unsafe_pull(github)
    github.lose("POST", r"/pulls/2/reviews$", how)

    await review_pull_request(bot)

    assert len(github.lost) == 1
    assert len(github.reviews(REPO, 2)) == 1
    [run] = github.check_runs.values()
    assert run.status == "completed"


@pytest.mark.parametrize("how", LOST_ANSWERS)
async def test_annotations_whose_update_went_unanswered_are_stored_once(
    bot: Bot, github: FakeGitHub, how: str
) -> None:
    open_unsafe_pull(github)
    github.lose("PATCH", r"/check-runs/\d+$", how)

    await review_pull_request(bot)

    assert len(github.lost) == 1
    [run] = github.check_runs.values()
    assert (run.status, run.conclusion) == ("completed", "neutral")
    assert [a["title"] for a in run.annotations] == ["WW001 prerelease-cache-key"]


async def test_a_write_that_never_took_effect_is_sent_again(bot: Bot, github: FakeGitHub) -> None:
    # The counterpart: a 502 *before* the call took effect looks the same to the App, and
    # the re-read must then find nothing and let the write through.
    open_unsafe_pull(github)
    github.fail("POST", r"/check-runs$", 502)
    github.fail("POST", r"/pulls/2/reviews$", 502)

    await review_pull_request(bot)

    assert len(github.reviews(REPO, 2)) == 1
    [run] = github.check_runs.values()
    assert run.status == "completed" and len(run.annotations) == 1

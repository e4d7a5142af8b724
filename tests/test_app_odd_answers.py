"""Odd answers from GitHub: each ends the delivery with a clear word, never silently.

A pagination ``Link`` that goes in a circle, a ``200`` whose body is an HTML page instead of
a file's contents, a token GitHub keeps refusing: the check run says the App could not
finish or could not read the file, and the log names the delivery.
"""

from __future__ import annotations

import asyncio
import logging

import pytest
from app_fixtures import Bot
from fake_github import (
    HEAD_SHA,
    REPO,
    UNSAFE_WORKFLOW,
    FakeGitHub,
    added_patch,
    pull_request_payload,
)

from bot.app.server import SERVICE

WORKFLOW = ".github/workflows/ci.yml"
FILES = "GET /repos/{owner}/{repo}/pulls/{pull_number}/files"


def open_unsafe_pull(github: FakeGitHub) -> None:
    github.add_file(REPO, HEAD_SHA, WORKFLOW, UNSAFE_WORKFLOW)
    github.add_pull(
        REPO, 2, [{"filename": WORKFLOW, "status": "added", "patch": added_patch(UNSAFE_WORKFLOW)}]
    )


async def test_a_pagination_link_that_goes_in_a_circle_ends_the_delivery_with_a_log_line(
    bot: Bot, github: FakeGitHub, caplog: pytest.LogCaptureFixture
) -> None:
    open_unsafe_pull(github)
    first_page = f"{github.url}/repos/{REPO}/pulls/2/files?per_page=100"  # type: ignore[attr-defined]
    github.fail(
        "GET",
        r"/pulls/2/files",
        200,
        headers={"Link": f'<{first_page}>; rel="next"'},
        body=[],
        times=1_000_000,
    )

    with caplog.at_level(logging.WARNING):
        await bot.deliver("pull_request", pull_request_payload(), delivery_id="d-loop")
        await asyncio.wait_for(bot.settle(), 10)

    assert github.count()[FILES] <= 2
    assert "d-loop" in caplog.text and "pagination" in caplog.text
    assert bot.app[SERVICE].metrics.deliveries[("pull_request", "github_error")] == 1


async def test_a_pagination_that_does_not_end_is_cut_at_a_bound(
    bot: Bot, github: FakeGitHub
) -> None:
    github.page_size = 1  # a new page, with a new link, for each of 1,000 files
    docs = [{"filename": f"docs/{n}.md", "status": "added"} for n in range(1000)]
    github.add_pull(REPO, 2, docs)

    await bot.deliver("pull_request", pull_request_payload())
    await asyncio.wait_for(bot.settle(), 30)

    assert github.count()[FILES] < 1000
    assert bot.app[SERVICE].metrics.deliveries[("pull_request", "github_error")] == 1


async def test_a_200_with_an_html_page_for_a_workflow_is_an_error_in_the_check_run(
    bot: Bot, github: FakeGitHub
) -> None:
    open_unsafe_pull(github)
    github.fail("GET", r"/git/blobs/", 200, body="<html>Sign in</html>")

    await bot.deliver("pull_request", pull_request_payload())
    await bot.settle()

    [run] = github.check_runs.values()
    assert run.status == "completed"
    assert run.output["title"] == "1 workflow file could not be analysed"
    assert "not the file's contents" in run.output["summary"]
    assert github.reviews(REPO, 2) == []


async def test_tokens_refused_even_when_renewed_close_the_check_run_as_could_not_finish(
    bot: Bot, github: FakeGitHub, caplog: pytest.LogCaptureFixture
) -> None:
    open_unsafe_pull(github)
    arrived, release = github.hold(r"/git/blobs/")
    await bot.deliver("pull_request", pull_request_payload(), delivery_id="d-revoked")
    await arrived.wait()  # the check run is in progress
    github.refuse_tokens(next_mints=2)  # the read, renewed once, and the first close fail

    with caplog.at_level(logging.INFO):
        release.set()
        await bot.settle()

    [run] = github.check_runs.values()
    assert (run.status, run.output["title"]) == ("completed", "wheelwatch could not finish")
    closed = [r.getMessage() for r in caplog.records if "could not finish" in r.getMessage()]
    assert closed and all("d-revoked" in line for line in closed)
    assert bot.app[SERVICE].metrics.deliveries[("pull_request", "github_error")] == 1


async def test_a_check_run_that_cannot_be_closed_is_named_in_the_log_with_its_delivery(
    bot: Bot, github: FakeGitHub, caplog: pytest.LogCaptureFixture
) -> None:
    open_unsafe_pull(github)
    arrived, release = github.hold(r"/git/blobs/")
    await bot.deliver("pull_request", pull_request_payload(), delivery_id="d-revoked")
    await arrived.wait()
    github.refuse_tokens(next_mints=1_000)  # for good: nothing can close it

    with caplog.at_level(logging.INFO):
        release.set()
        await bot.settle()

    [run] = github.check_runs.values()
    assert run.status == "in_progress"
    [line] = [r for r in caplog.records if "left in progress" in r.getMessage()]
    assert "d-revoked" in line.getMessage() and str(run.id) in line.getMessage()
    assert line.exc_info is None  # one line, not a traceback

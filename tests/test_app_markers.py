"""Only the App's own comments carry a marker it trusts.

The hidden ``<!-- wheelwatch:… -->`` marker tells a later run what it already posted. Anyone
can paste it: a comment by another user or another bot carrying it must not silence a
finding. The App learns its own login (``<slug>[bot]``) from ``GET /app``.
"""

from __future__ import annotations

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
)

WORKFLOW = ".github/workflows/ci.yml"
OTHER_BOT = {"login": "github-actions[bot]", "id": 41898282, "type": "Bot"}
OTHER_USER = {"login": "octocat", "id": 1, "type": "User"}


def open_unsafe_pull(github: FakeGitHub) -> None:
    github.add_file(REPO, HEAD_SHA, WORKFLOW, UNSAFE_WORKFLOW)
    github.add_pull(
        REPO, 2, [{"filename": WORKFLOW, "status": "added", "patch": added_patch(UNSAFE_WORKFLOW)}]
    )


async def reviewed_then_reauthored(bot: Bot, github: FakeGitHub, author: Any) -> None:
    """The App reviews the pull request, then its review and comments (markers and all)
    are made to look as if ``author`` had written them, as a copy would."""
    await bot.deliver("pull_request", pull_request_payload())
    await bot.settle()
    pull = github.pulls[(REPO, 2)]
    assert len(pull.reviews) == 1 and pull.comments
    for item in [*pull.reviews, *pull.comments]:
        item["user"] = author


@pytest.mark.parametrize(
    "author", [OTHER_BOT, OTHER_USER, None], ids=["another bot", "a user", "a deleted user"]
)
async def test_a_marker_written_by_anyone_else_does_not_silence_the_review(
    bot: Bot, github: FakeGitHub, author: Any
) -> None:
    open_unsafe_pull(github)
    await reviewed_then_reauthored(bot, github, author)

    await bot.deliver("pull_request", pull_request_payload("reopened"))
    await bot.settle()

    reviews = github.reviews(REPO, 2)
    assert len(reviews) == 2
    assert reviews[-1]["user"]["login"] == "wheelwatch[bot]"


async def test_the_apps_own_login_is_learnt_once(bot: Bot, github: FakeGitHub) -> None:
    open_unsafe_pull(github)

    await bot.deliver("pull_request", pull_request_payload())
    await bot.settle()
    await bot.deliver("pull_request", pull_request_payload("reopened"))
    await bot.settle()

    assert len(github.reviews(REPO, 2)) == 1  # its own markers still count
    assert github.count()["GET /app"] == 1

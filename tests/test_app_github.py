"""Talking to GitHub: retries that help, give-ups that do not, tokens renewed in time."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from app_fixtures import STALL_TIMEOUT, Bot
from fake_github import REPO, FakeGitHub, pull_request_payload

from bot.app.server import SERVICE

FILES = "GET /repos/{owner}/{repo}/pulls/{pull_number}/files"
TOKEN = "POST /app/installations/{installation_id}/access_tokens"
TREE = "GET /repos/{owner}/{repo}/git/trees/{tree_sha}"


def no_workflows(github: FakeGitHub) -> None:
    github.add_pull(REPO, 2, [{"filename": "src/app.py", "status": "modified"}])


def statuses(github: FakeGitHub, operation: str) -> list[int]:
    return [call.status for call in github.calls if call.operation == operation]


async def test_server_error_is_retried_with_backoff_until_it_succeeds(
    bot: Bot, github: FakeGitHub
) -> None:
    no_workflows(github)
    github.fail("GET", r"/pulls/2/files", 500, times=2)

    await bot.deliver("pull_request", pull_request_payload())
    await bot.settle()

    assert statuses(github, FILES) == [500, 500, 200]
    assert bot.waits == [1.0, 2.0]
    assert bot.app[SERVICE].metrics.deliveries[("pull_request", "processed")] == 1


async def test_secondary_rate_limit_waits_for_retry_after(bot: Bot, github: FakeGitHub) -> None:
    no_workflows(github)
    github.fail(
        "GET",
        r"/pulls/2/files",
        403,
        headers={"Retry-After": "7"},
        body={"message": "You have exceeded a secondary rate limit."},
    )

    await bot.deliver("pull_request", pull_request_payload())
    await bot.settle()

    assert statuses(github, FILES) == [403, 200]
    assert bot.waits == [7.0]


async def test_exhausted_rate_limit_waits_until_the_reset(bot: Bot, github: FakeGitHub) -> None:
    import time

    no_workflows(github)
    reset = int(time.time()) + 30
    github.fail(
        "GET",
        r"/pulls/2/files",
        403,
        headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)},
        body={"message": "API rate limit exceeded"},
    )

    await bot.deliver("pull_request", pull_request_payload())
    await bot.settle()

    assert statuses(github, FILES) == [403, 200]
    [wait] = bot.waits
    assert 25 <= wait <= 32


async def test_rate_limit_reset_too_far_away_is_not_waited_for(
    bot: Bot, github: FakeGitHub, caplog: pytest.LogCaptureFixture
) -> None:
    no_workflows(github)
    github.fail("GET", r"/pulls/2/files", 429, headers={"Retry-After": "3600"})

    with caplog.at_level(logging.WARNING):
        await bot.deliver("pull_request", pull_request_payload(), delivery_id="d-limit")
        await bot.settle()

    assert statuses(github, FILES) == [429]
    assert bot.waits == []
    assert "d-limit" in caplog.text


async def test_timeout_is_retried(make_bot: Callable[..., Any], github: FakeGitHub) -> None:
    bot: Bot = await make_bot(client_timeout=STALL_TIMEOUT)
    no_workflows(github)
    github.stall("GET", r"/pulls/2/files")

    await bot.deliver("pull_request", pull_request_payload())
    await bot.settle()

    assert bot.waits == [1.0]
    assert statuses(github, FILES)[-1] == 200


async def test_github_down_for_every_attempt_gives_the_delivery_up_without_crashing(
    bot: Bot, github: FakeGitHub
) -> None:
    no_workflows(github)
    github.fail("GET", r"/pulls/2/files", 502, times=5)

    response = await bot.deliver("pull_request", pull_request_payload())
    await bot.settle()

    assert response.status == 202
    assert statuses(github, FILES) == [502] * 5
    outcomes = bot.app[SERVICE].metrics.deliveries
    assert outcomes[("pull_request", "github_unavailable")] == 1
    assert outcomes[("pull_request", "given_up")] == 1  # the tests' App runs nothing again
    health = await bot.client.get("/healthz")
    assert health.status == 200


async def test_unfixable_client_error_is_logged_with_the_delivery_id_and_dropped(
    bot: Bot, github: FakeGitHub, caplog: pytest.LogCaptureFixture
) -> None:
    github.fail("GET", r"/pulls/2/files", 404, body={"message": "Not Found"})

    with caplog.at_level(logging.WARNING):
        await bot.deliver("pull_request", pull_request_payload(), delivery_id="d-404")
        await bot.settle()

    assert statuses(github, FILES) == [404]
    assert bot.waits == []
    assert "d-404" in caplog.text and "404" in caplog.text


async def test_token_close_to_expiry_is_renewed_before_use(bot: Bot, github: FakeGitHub) -> None:
    no_workflows(github)
    github.token_lifetime = timedelta(minutes=4)  # inside the five-minute renewal margin

    await bot.deliver("pull_request", pull_request_payload())
    await bot.deliver("pull_request", pull_request_payload("synchronize"))
    await bot.settle()

    # Never cached: every call (the files twice, the tree once) asks for a fresh token.
    assert github.count() == Counter({TOKEN: 3, FILES: 2, TREE: 1})


async def test_token_refused_as_expired_is_renewed_and_the_call_repeated(
    bot: Bot, github: FakeGitHub
) -> None:
    no_workflows(github)
    await bot.deliver("pull_request", pull_request_payload())
    await bot.settle()
    github.tokens.clear()  # GitHub no longer honours the cached token

    await bot.deliver("pull_request", pull_request_payload("synchronize"))
    await bot.settle()

    assert statuses(github, FILES) == [200, 401, 200]
    assert github.count()[TOKEN] == 2


async def test_tokens_are_never_logged(
    bot: Bot, github: FakeGitHub, caplog: pytest.LogCaptureFixture
) -> None:
    no_workflows(github)
    github.fail("GET", r"/pulls/2/files", 500)

    with caplog.at_level(logging.DEBUG):
        await bot.deliver("pull_request", pull_request_payload())
        await bot.settle()

    assert github.tokens
    for token in github.tokens:
        assert token not in caplog.text
    assert "test-webhook-secret" not in caplog.text


async def test_unchanged_content_is_served_from_the_etag_cache(
    bot: Bot, github: FakeGitHub
) -> None:
    from fake_github import HEAD_SHA, UNSAFE_WORKFLOW, added_patch

    path = ".github/workflows/ci.yml"
    github.add_file(REPO, HEAD_SHA, path, UNSAFE_WORKFLOW)
    github.add_pull(
        REPO, 2, [{"filename": path, "status": "added", "patch": added_patch(UNSAFE_WORKFLOW)}]
    )

    await bot.deliver("pull_request", pull_request_payload())
    await bot.settle()
    await bot.deliver("pull_request", pull_request_payload("reopened"))
    await bot.settle()

    assert statuses(github, TREE) == [200, 304]
    assert statuses(github, "GET /repos/{owner}/{repo}/git/blobs/{file_sha}") == [200]


def test_the_etag_cache_is_bounded_in_bytes_across_installations() -> None:
    from bot.app.github import EtagCache, object_bytes

    cache = EtagCache(64 * 1024)
    body = {"content": "x" * 2000, "sha": "0" * 40, "_links": {"self": "https://example"}}
    entry = ('"etag"', None, body, None)
    for installation in range(1_000):  # 1,000 installations x 4 URLs: far over the bound
        view = cache.view(installation)
        assert view is not None
        for n in range(4):
            view[f"/repos/o/r/contents/{n}"] = entry
    assert cache.bytes <= 64 * 1024 and 0 < len(cache) < 4_000
    assert object_bytes(body) > 2000
    # Each installation sees only its own entries; the most recent ones are kept.
    last = cache.view(999)
    assert last is not None and last["/repos/o/r/contents/3"] == entry
    other = cache.view(5)
    assert other is not None and "/repos/o/r/contents/3" not in other
    # A response larger than the whole cache is not kept (and is no error for gidgethub).
    last["/huge"] = ('"e"', None, {"content": "x" * 100_000}, None)
    assert "/huge" not in last
    assert EtagCache(0).view(1) is None

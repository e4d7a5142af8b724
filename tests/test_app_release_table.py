"""The release table is refreshed from actions/python-versions' versions-manifest.json, read
with the installation's token at most once a day, conditionally; the check run names it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from app_fixtures import Bot
from fake_github import REPO, UNSAFE_WORKFLOW, FakeGitHub, webhook

from bot.app.release_tables import REFRESH_SECONDS, ReleaseTables
from bot.app.server import SERVICE

WORKFLOW = ".github/workflows/ci.yml"
MANIFEST = ("actions/python-versions", "HEAD", "versions-manifest.json")
CONTENTS = "GET /repos/{owner}/{repo}/contents/{path}"
# 3.16.0 is out, as far as the manifest knows; the shipped table plans it for 2027-10-05.
STABLE_316 = [
    {"version": "3.16.0", "stable": True, "release_url": "", "files": []},
    {"version": "3.16.0-rc.2", "stable": False, "release_url": "", "files": []},
]


def push_of(github: FakeGitHub, n: int) -> dict[str, Any]:
    sha = github.git.commit_files(REPO, {WORKFLOW: UNSAFE_WORKFLOW, "n.txt": str(n)})
    data = webhook("push.5")
    data["after"] = sha
    return data


def manifest_reads(github: FakeGitHub) -> list[int]:
    return [
        call.status
        for call in github.calls
        if call.operation == CONTENTS and call.path.endswith("/versions-manifest.json")
    ]


@pytest.fixture
async def refreshing_bot(make_bot: Any) -> Bot:
    made: Bot = await make_bot(release_manifest=True)
    return made


async def test_a_minor_the_manifest_lists_as_stable_is_final(
    refreshing_bot: Bot, github: FakeGitHub
) -> None:
    github.add_file(*MANIFEST, json.dumps(STABLE_316))

    await refreshing_bot.deliver("push", push_of(github, 1))
    await refreshing_bot.settle()

    [run] = github.check_runs.values()
    assert run.annotations == []  # 3.16-dev is no longer a pre-release
    assert "refreshed from actions/python-versions' versions-manifest.json" in run.output["summary"]


async def test_the_manifest_is_read_once_a_day_and_then_conditionally(
    refreshing_bot: Bot, github: FakeGitHub
) -> None:
    github.add_file(*MANIFEST, json.dumps(STABLE_316))
    now = [0.0]
    analyser = refreshing_bot.app[SERVICE].processor.analyser
    analyser.releases = ReleaseTables(clock=lambda: now[0])

    for n in range(3):
        await refreshing_bot.deliver("push", push_of(github, n))
        await refreshing_bot.settle()
    now[0] += REFRESH_SECONDS
    await refreshing_bot.deliver("push", push_of(github, 3))
    await refreshing_bot.settle()

    assert manifest_reads(github) == [200, 304]


async def test_a_manifest_that_cannot_be_read_keeps_the_shipped_table(
    refreshing_bot: Bot, github: FakeGitHub
) -> None:
    # No manifest in the fake: 404.
    for n in range(2):
        await refreshing_bot.deliver("push", push_of(github, n))
        await refreshing_bot.settle()

    assert manifest_reads(github) == [404]  # not again within the hour
    for run in github.check_runs.values():
        assert [a["title"] for a in run.annotations] == ["WW001 prerelease-cache-key"]
        assert "the table shipped with wheelwatch" in run.output["summary"]
        assert "refreshed" not in run.output["summary"]


def test_the_manifest_is_read_from_raw_text_or_base64_json() -> None:
    import base64

    from bot.app.release_tables import manifest_entries

    raw = json.dumps(STABLE_316)
    encoded = {"content": base64.b64encode(raw.encode()).decode(), "encoding": "base64"}
    assert manifest_entries(raw) == manifest_entries(encoded) == STABLE_316
    with pytest.raises(ValueError):
        manifest_entries({"message": "moved"})

"""The App judges a commit as of one day, read once per commit from one clock
(``AppConfig.today``; ``as_of`` fixes it, as the tests' App does): the engine in the analysis
processes, the release table's refresh and the analysis cache's key all get that day."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from app_fixtures import Bot
from fake_github import REPO, UNSAFE_WORKFLOW, FakeGitHub, webhook
from support import TODAY

from bot.app.server import SERVICE

WORKFLOW = ".github/workflows/ci.yml"
# The shipped table plans 3.16.0 for 2027-10-05: from the day after, 3.16-dev is final.
AFTER_316 = date(2027, 10, 6)
MANIFEST = ("actions/python-versions", "HEAD", "versions-manifest.json")


def push_of(github: FakeGitHub, n: int) -> dict[str, Any]:
    """A push of a commit with the unsafe workflow (the same blob each time) and ``n.txt``."""
    sha = github.git.commit_files(REPO, {WORKFLOW: UNSAFE_WORKFLOW, "n.txt": str(n)})
    data = webhook("push.5")
    data["after"] = sha
    return data


def titles(github: FakeGitHub) -> list[list[str]]:
    return [[a["title"] for a in run.annotations] for run in github.check_runs.values()]


async def test_the_tests_app_judges_as_of_the_day_its_tests_were_written_for(
    bot: Bot, github: FakeGitHub
) -> None:
    await bot.deliver("push", push_of(github, 1))
    await bot.settle()

    assert bot.app[SERVICE].config.today() == TODAY
    assert titles(github) == [["WW001 prerelease-cache-key"]]


async def test_a_pre_release_is_final_once_the_apps_clock_is_past_its_release(
    make_bot: Any, github: FakeGitHub
) -> None:
    bot: Bot = await make_bot(as_of=AFTER_316)

    await bot.deliver("push", push_of(github, 1))
    await bot.settle()

    assert titles(github) == [[]]  # 3.16-dev is 3.16.x by then


async def test_an_analysis_cached_on_one_day_is_not_reused_on_another(
    bot: Bot, github: FakeGitHub
) -> None:
    analyser = bot.app[SERVICE].processor.analyser
    await bot.deliver("push", push_of(github, 1))
    await bot.settle()
    analyser.today = lambda: AFTER_316

    await bot.deliver("push", push_of(github, 2))
    await bot.settle()

    assert titles(github) == [["WW001 prerelease-cache-key"], []]
    assert analyser.blob_reads == 1  # the text is the same blob: read once
    assert analyser.analyses == 2  # its analysis depends on the day: done again


async def test_the_release_table_is_refreshed_as_of_the_apps_day(
    make_bot: Any, github: FakeGitHub
) -> None:
    github.add_file(*MANIFEST, json.dumps([{"version": "3.16.0", "stable": True, "files": []}]))
    bot: Bot = await make_bot(release_manifest=True)

    await bot.deliver("push", push_of(github, 1))
    await bot.settle()

    [run] = github.check_runs.values()
    assert f"versions-manifest.json on {TODAY.isoformat()}" in run.output["summary"]

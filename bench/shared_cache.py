"""What the analysis cache in Redis saves a worker process that meets a commit another read.

    python bench/shared_cache.py [--files 30] [--runs 5] [--latency 0.02]

One redis-server (a Unix socket, no persistence), and in this process the tests' fake GitHub
(``tests/fake_github.py``, every answer after ``--latency`` seconds) holding a commit of
``--files`` workflow files (a third unsafe, each file distinct). Worker A reads and analyses
the commit (``Analyser.snapshot``, the analyses in two analysis processes, as a worker does);
then worker B, with its own memory and its own analysis processes, snapshots the same commit:

* baseline: B's cache is its memory only (what a worker had before the cache in Redis);
* shared: B's memory in front of Redis, where A's texts and analyses are (``wheelwatch worker``).

Reported for B: GitHub calls, analyses and wall time (median over ``--runs``, Redis emptied and
both workers new each run), and what the shared cache holds. Benchmark, not test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # puts the checkout and tests/ on sys.path

COMMIT_BYTES = 32 * 1024 * 1024
TODAY = date(2026, 12, 3)


async def snapshot_once(args: argparse.Namespace, sock: Path, shared: bool) -> dict[str, Any]:
    import aiohttp
    import redis.asyncio
    from aiohttp.test_utils import TestServer
    from fake_github import APP_ID, SAFE_WORKFLOW, UNSAFE_WORKFLOW, FakeGitHub, app_key_pair

    from bot.app.analysis_cache import AnalysisCache
    from bot.app.cache_redis import shared_analysis_cache
    from bot.app.github import GitHubApp
    from bot.app.metrics import Metrics
    from bot.app.process_pool import Offload, ProcessPool
    from bot.app.release_tables import ReleaseTables
    from bot.app.snapshot import Analyser
    from bot.app.workflows import Repository

    private, public = app_key_pair()
    fake = FakeGitHub(app_id=APP_ID, public_key=public)
    fake.latency = args.latency
    server = TestServer(fake.app)
    await server.start_server()
    repo = "bench/shared"
    files = {
        f".github/workflows/w{n:02}.yml": (UNSAFE_WORKFLOW if n % 3 == 0 else SAFE_WORKFLOW)
        + f"# file {n}\n"
        for n in range(args.files)
    }
    sha = fake.git.commit_files(repo, files, branch="master")
    client = redis.asyncio.Redis(unix_socket_path=str(sock))
    await client.flushall()
    try:
        async with aiohttp.ClientSession() as session:
            app = GitHubApp(
                session,
                app_id=APP_ID,
                private_key=private,
                api_url=str(server.make_url("")).rstrip("/"),
                metrics=Metrics(),
            )
            gh = app.installation(1, delivery_id="bench")

            async def worker(cache: AnalysisCache) -> tuple[Analyser, float, int]:
                # The release manifest is not read (the fake has none): one call less each.
                releases = ReleaseTables(refresh=False)
                analyser = Analyser(cache, today=lambda: TODAY, releases=releases)
                pool = ProcessPool(2)
                before = len(fake.calls)
                started = time.perf_counter()
                try:
                    await analyser.snapshot(
                        gh, Repository.from_full_name(repo), sha, offload=Offload(pool, 60)
                    )
                finally:
                    await pool.close()
                return analyser, time.perf_counter() - started, len(fake.calls) - before

            await worker(shared_analysis_cache(client, COMMIT_BYTES))  # A, on a cold cache
            cache = (
                shared_analysis_cache(client, COMMIT_BYTES)
                if shared
                else AnalysisCache.in_memory(COMMIT_BYTES)
            )
            analyser, seconds, calls = await worker(cache)
            memory = await client.info("memory")
            keys = await client.dbsize()
    finally:
        await client.aclose()
        await server.close()
    assert not fake.errors, fake.errors
    return {
        "calls": calls,
        "analyses": analyser.analyses,
        "ms": seconds * 1000,
        "redis keys": keys,
        "redis used_memory MiB": memory["used_memory"] / 2**20,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=30)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--latency", type=float, default=0.020)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="wheelwatch-shared-"))
    sock = work / "redis.sock"
    redis_server = harness.Child(
        [],
        command=["redis-server", "--port", "0", "--unixsocket", str(sock), "--save", ""],
        log=work / "redis.log",
        ready_file=sock,
    )
    runs: dict[str, list[dict[str, Any]]] = {"baseline (memory only)": [], "shared (Redis)": []}
    try:
        for _ in range(args.runs):  # alternated, so that both see the same load
            for label, shared in (("baseline (memory only)", False), ("shared (Redis)", True)):
                runs[label].append(asyncio.run(snapshot_once(args, sock, shared)))
    finally:
        redis_server.stop()
    report = {}
    for label, results in runs.items():
        report[label] = {
            "calls": results[0]["calls"],
            "analyses": results[0]["analyses"],
            "ms (median)": round(statistics.median(r["ms"] for r in results), 1),
            "ms (all)": [round(r["ms"], 1) for r in results],
            "redis keys": results[0]["redis keys"],
            "redis used_memory MiB": round(results[0]["redis used_memory MiB"], 2),
        }
    print(json.dumps({"files": args.files, "latency ms": args.latency * 1000, **report}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

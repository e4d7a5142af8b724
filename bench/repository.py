"""Whole-repository checks: GitHub calls and time per event, and a large installation.

    python bench/repository.py               # both parts
    python bench/repository.py --part cache  # 30 workflow files, with and without the cache
    python bench/repository.py --part install --repos 200

The App (``create_app``, as ``wheelwatch serve`` builds it) and the tests' fake GitHub
(``tests/fake_github.py``, same request validation) run in this one process, on loopback,
the fake answering every call after ``--latency`` seconds (20 ms).

* ``cache``: a repository with 30 workflow files (a third unsafe); one push of them, then
  ``--pushes`` pushes that change only README.md, each processed alone. Reported per push: the
  GitHub calls and the time from delivery to the completed check run, with the analysis
  cache off (``WHEELWATCH_ANALYSIS_CACHE_BYTES=0``: every push reads and analyses every file,
  the baseline) and on (the default).
* ``install``: one ``installation.created`` delivery listing ``--repos`` repositories, each with
  3 workflow files (repository n: one unsafe if n is even); time from the delivery to the
  last check run completed, GitHub calls, and the peak RSS of this process and its children
  (the App's analysis processes; the fake is in this process too), sampled every 20 ms,
  against the same before the delivery.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
for entry in (REPO_ROOT, REPO_ROOT / "tests"):
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))

from aiohttp.test_utils import TestClient, TestServer  # noqa: E402
from fake_github import (  # noqa: E402
    APP_ID,
    SAFE_WORKFLOW,
    SECRET,
    UNSAFE_WORKFLOW,
    FakeGitHub,
    app_key_pair,
    webhook,
)

from bot.app.config import AppConfig  # noqa: E402
from bot.app.replay import webhook_headers  # noqa: E402
from bot.app.server import SERVICE, create_app  # noqa: E402

OWNER = "bench"


def tree_rss_mib() -> float:
    """RSS of this process and its children (the App's analysis worker processes)."""
    pids = [os.getpid()]
    for task in Path("/proc/self/task").iterdir():
        children = (task / "children").read_text().split()
        pids.extend(int(pid) for pid in children)
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


async def sample_peak(peak: list[float], stop: asyncio.Event) -> None:
    """The highest :func:`tree_rss_mib` seen, sampled every 20 ms until ``stop``."""
    while not stop.is_set():
        peak[0] = max(peak[0], tree_rss_mib())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.02)


async def start(latency: float, **config: Any) -> tuple[FakeGitHub, TestClient, Any]:
    private, public = app_key_pair()
    fake = FakeGitHub(app_id=APP_ID, public_key=public)
    fake.latency = latency
    fake_server = TestServer(fake.app)
    await fake_server.start_server()
    fake.url = str(fake_server.make_url("")).rstrip("/")  # type: ignore[attr-defined]
    app_config = AppConfig(
        app_id=APP_ID,
        private_key=private,
        webhook_secret=SECRET,
        api_url=fake.url,  # type: ignore[attr-defined]
        release_manifest=False,
        **config,
    )
    client = TestClient(TestServer(create_app(app_config)))
    await client.start_server()
    return fake, client, fake_server


async def deliver(client: TestClient, event: str, payload: dict[str, Any], n: int) -> None:
    body = json.dumps(payload).encode()
    headers = webhook_headers(body, event=event, secret=SECRET, delivery_id=f"bench-{n}")
    response = await client.post("/webhook", data=body, headers=headers)
    assert response.status == 202, response.status
    await client.server.app[SERVICE].queue.join()


def workflow_files(count: int) -> dict[str, str]:
    return {
        f".github/workflows/w{n:02}.yml": (UNSAFE_WORKFLOW if n % 3 == 0 else SAFE_WORKFLOW)
        + f"# file {n}\n"
        for n in range(count)
    }


async def cache_part(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for label, cache_bytes in (
        ("cache off (baseline)", 0),
        ("cache on", 32 * 1024 * 1024),
    ):
        fake, client, fake_server = await start(args.latency, analysis_cache_bytes=cache_bytes)
        repo = f"{OWNER}/thirty"
        sha = fake.git.commit_files(repo, workflow_files(30), branch="master")
        payload = webhook("push.5")
        payload["repository"]["full_name"] = repo
        payload.update(after=sha)
        await deliver(client, "push", payload, 0)  # the first push reads everything either way
        timings, calls = [], Counter[str]()
        for n in range(1, args.pushes + 1):
            sha = fake.git.commit_files(repo, {"README.md": f"edit {n}"}, parent=sha)
            payload = dict(payload, after=sha)
            before = len(fake.calls)
            started = time.perf_counter()
            await deliver(client, "push", payload, n)
            timings.append(time.perf_counter() - started)
            calls.update(
                call.operation.replace("/repos/{owner}/{repo}", "") for call in fake.calls[before:]
            )
        assert fake.errors == [], fake.errors
        runs = [run for run in fake.check_runs.values() if run.status == "completed"]
        assert len(runs) == args.pushes + 1
        results[label] = {
            "calls per push": sum(calls.values()) / args.pushes,
            "calls by kind per push": {k: v / args.pushes for k, v in sorted(calls.items())},
            "ms per push (median)": round(sorted(timings)[len(timings) // 2] * 1000, 1),
            "ms per push (all)": [round(t * 1000, 1) for t in timings],
        }
        await client.close()
        await fake_server.close()
    return results


async def install_part(args: argparse.Namespace) -> dict[str, Any]:
    fake, client, fake_server = await start(args.latency)
    names = [f"{OWNER}/repo{n:03}" for n in range(args.repos)]
    for n, name in enumerate(names):
        fake.git.default_branches[name] = "main"
        files = {
            ".github/workflows/ci.yml": UNSAFE_WORKFLOW if n % 2 == 0 else SAFE_WORKFLOW,
            ".github/workflows/lint.yml": SAFE_WORKFLOW + f"# {n}\n",
            "action.yml": "name: a\nruns:\n  using: composite\n  steps: []\n",
        }
        fake.git.commit_files(name, files, branch="main")
    payload = webhook("installation.created.2")
    template = payload["repositories"][0]
    payload["repositories"] = [dict(template, full_name=name) for name in names]
    rss_before = tree_rss_mib()
    peak, stop = [rss_before], asyncio.Event()
    sampler = asyncio.create_task(sample_peak(peak, stop))
    started = time.perf_counter()
    await deliver(client, "installation", payload, 0)
    elapsed = time.perf_counter() - started
    stop.set()
    await sampler
    completed = [run for run in fake.check_runs.values() if run.status == "completed"]
    assert len(completed) == args.repos, len(completed)
    assert fake.errors == [], fake.errors
    result = {
        "repositories": args.repos,
        "seconds to the last check run": round(elapsed, 2),
        "GitHub calls": len(fake.calls),
        "calls per repository": round(len(fake.calls) / args.repos, 2),
        "floor: calls one after another per repository x latency / 4 at a time (s)": round(
            len(fake.calls) * args.latency / 4, 2
        ),
        "RSS before the delivery, analysis processes included (MiB)": round(rss_before, 1),
        "peak RSS, fake and analysis processes included (MiB)": round(peak[0], 1),
    }
    await client.close()
    await fake_server.close()
    return result


async def main(args: argparse.Namespace) -> None:
    report: dict[str, Any] = {"latency ms": args.latency * 1000}
    if args.part in ("cache", "both"):
        report["30 workflow files, push changing only README.md"] = await cache_part(args)
    if args.part in ("install", "both"):
        report["installation"] = await install_part(args)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("cache", "install", "both"), default="both")
    parser.add_argument("--latency", type=float, default=0.020)
    parser.add_argument("--pushes", type=int, default=5)
    parser.add_argument("--repos", type=int, default=200)
    asyncio.run(main(parser.parse_args()))

"""Processes the App benchmarks start: the fake GitHub, the App server, a baseline endpoint.

    python bench/harness.py fake-github --prs N [--mix] [--latency S] [--faults]
    python bench/harness.py serve [--sleep-scale X] [--timeout S] [--unguarded]
    python bench/harness.py baseline --port P

Each runs in its own process on 127.0.0.1 and prints one ``READY ...`` line on stdout once it
listens. ``bench/webhook_ack.py`` and ``bench/end_to_end.py`` start them through
:class:`Child`; nothing here is a test.

* ``fake-github`` is ``tests/fake_github.py`` (the tests' fake, same validation of request
  bodies), set up with pull requests 1..N; with ``--mix`` PR n changes no workflow (n % 3 == 0),
  adds a clean workflow (n % 3 == 1) or an unsafe one (n % 3 == 2); its head commit is
  ``head_sha(n)``. A second port serves ``GET /stats``: calls by operation and by PR kind,
  reviews and check runs per PR, injected faults, validation errors.
* ``serve`` is the App (``create_app``) exactly as ``wheelwatch serve`` runs it, configured
  from the same environment, except that its GitHub client's waits can be scaled down
  (``--sleep-scale``: a backoff of 1 s or a ``retry-after: 1`` waits 1 s x scale) and its
  request timeout set, so that fault runs stay bounded. It also answers ``GET /bench/memory``:
  how full each of the App's caches is and, when ``WHEELWATCH_BENCH_TRACEMALLOC`` is set (a
  number of frames), the allocations that grew most since the previous call (tracemalloc).
  ``--unguarded`` serves it with ``web.run_app`` instead, as before the connection guard
  (``bot/app/connections.py``): no connection cap, no header timeout.
* ``baseline`` only reads the body, checks ``X-Hub-Signature-256`` with ``hmac.compare_digest``
  and answers 202: the least any webhook endpoint on aiohttp must do.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
for entry in (REPO, REPO / "tests"):
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))

WORKFLOW = ".github/workflows/ci.yml"
KINDS = ("none", "clean", "unsafe")


def many_jobs_workflow(jobs: int) -> str:
    """``jobs`` jobs, each with one unsafe pip cache: as many findings, each with a fix."""
    job = (
        "  job{n}:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - uses: actions/setup-python@v6\n        with:\n"
        '          python-version: "3.16-dev"\n'
        "      - uses: actions/cache@v5\n        with:\n          path: ~/.cache/pip\n"
        "          key: pip-3.16-dev-${{{{ hashFiles('requirements.txt') }}}}\n"
    )
    return "on: push\njobs:\n" + "".join(job.format(n=n) for n in range(jobs))


def head_sha(number: int) -> str:
    return f"{number:040x}"


def kind_of(number: int, mix: bool) -> str:
    return KINDS[number % 3] if mix else "none"


def rsa_keys() -> tuple[str, str]:
    from fake_github import app_key_pair

    return app_key_pair()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_kib(pid: int) -> dict[str, int]:
    """VmRSS (now) and VmHWM (peak) of a process, in KiB."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            found[name] = int(value.split()[0])
    return found


def _stat_fields(pid: str) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # it exited meanwhile
        return None
    # The command name (field 2) may hold spaces: the fields that follow its ")" are fixed.
    return text[text.rindex(")") + 2 :].split()


def cpu_seconds(root: int, *, tree: bool = True) -> float:
    """CPU (user + system) used so far by ``root`` and (``tree``) every live process under
    it, with the children each has reaped (an analysis process killed and replaced)."""
    children: dict[int, list[int]] = {}
    times: dict[int, float] = {}
    ticks = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or (fields := _stat_fields(entry.name)) is None:
            continue
        pid = int(entry.name)
        # After the name: state, ppid, ..., utime (14th field of the line), stime, cutime, cstime.
        children.setdefault(int(fields[1]), []).append(pid)
        times[pid] = sum(int(value) for value in fields[11:15]) / ticks
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        total += times.get(pid, 0.0)
        if tree:
            todo.extend(children.get(pid, []))
    return total


class Child:
    """A child process; waits until it is ready, stops it with SIGTERM.

    Ready means a ``READY ...`` line on stdout (this harness's roles) or, with ``health``, that
    URL answering 200 (``wheelwatch serve``, which prints nothing on stdout).
    """

    def __init__(
        self,
        args: Sequence[str],
        *,
        env: dict[str, str] | None = None,
        log: Path,
        health: str | None = None,
        command: Sequence[str] | None = None,
        ready_file: Path | None = None,
    ):
        self.log_path = log
        self._log = log.open("wb")
        argv = [*command] if command else [sys.executable, str(Path(__file__).resolve()), *args]
        self.process = subprocess.Popen(
            argv,
            stdout=subprocess.DEVNULL if health or ready_file else subprocess.PIPE,
            stderr=self._log,
            env={**os.environ, **(env or {})},
        )
        self.ready: list[str] = []
        if ready_file is not None:
            # A server that says nothing on stdout but creates this file (a Unix socket).
            if wait_until(ready_file.exists, 30, 0.02):
                return
        elif health is None:
            assert self.process.stdout is not None
            line = self.process.stdout.readline().decode()
            if line.startswith("READY"):
                self.ready = line.split()[1:]
                return
        elif wait_until(lambda: _answers(health) and True, 30, 0.05):
            return
        self.stop()
        sys.exit(f"bench: {argv} did not start; see {log}")

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        return self.process.returncode


def parse_metrics(text: str) -> dict[str, Counter[str]]:
    """The App's /metrics: deliveries by outcome and GitHub responses by status."""
    outcomes: Counter[str] = Counter()
    statuses: Counter[str] = Counter()
    for line in text.splitlines():
        match = re.match(
            r'wheelwatch_deliveries_total\{event="[^"]*",outcome="([^"]+)"\} (\d+)', line
        )
        if match:
            outcomes[match.group(1)] += int(match.group(2))
        match = re.match(
            r'wheelwatch_github_requests_total\{method="[^"]*",status="([^"]+)"\} (\d+)', line
        )
        if match:
            statuses[match.group(1)] += int(match.group(2))
    return {"outcomes": outcomes, "github": statuses}


FINAL_OUTCOMES = frozenset(
    {
        "processed",
        "superseded",
        "skipped",
        "malformed",
        "github_error",
        "github_unavailable",
        "error",
    }
)


def finished(outcomes: Counter[str]) -> int:
    return sum(count for outcome, count in outcomes.items() if outcome in FINAL_OUTCOMES)


# -- child: the fake GitHub ----------------------------------------------------------------


def run_fake_github(args: argparse.Namespace) -> None:
    from aiohttp import web
    from fake_github import (
        APP_ID,
        SAFE_WORKFLOW,
        UNSAFE_WORKFLOW,
        Chaos,
        FakeGitHub,
        added_patch,
    )
    from fake_github import (
        REPO as FAKE_REPO,
    )

    fake = FakeGitHub(app_id=APP_ID, public_key=Path(args.public_key).read_text())
    fake.latency = args.latency
    for number in range(1, args.prs + 1):
        kind = kind_of(number, args.mix)
        if kind == "none":
            patch = "@@ -1 +1 @@\n-a\n+b"
            files = [{"filename": "README.md", "status": "modified", "patch": patch}]
        else:
            text = SAFE_WORKFLOW if kind == "clean" else UNSAFE_WORKFLOW
            fake.add_file(FAKE_REPO, head_sha(number), WORKFLOW, text)
            files = [{"filename": WORKFLOW, "status": "added", "patch": added_patch(text)}]
        fake.add_pull(FAKE_REPO, number, files)
    if args.huge_jobs:
        # Pull request number prs + 1 adds a workflow of that many jobs, one finding each.
        number = args.prs + 1
        text = many_jobs_workflow(args.huge_jobs)
        fake.add_file(FAKE_REPO, head_sha(number), WORKFLOW, text)
        files = [{"filename": WORKFLOW, "status": "added", "patch": added_patch(text)}]
        fake.add_pull(FAKE_REPO, number, files)
    if args.faults:
        fake.chaos = Chaos(
            server_errors=0.05,
            timeouts=0.02,
            rate_limits=0.01,
            retry_after="1",
            stall_seconds=args.stall,
            seed=args.seed,
            lost_writes=args.lost_writes,
        )

    def pr_of_call(call: Any, run_pr: dict[int, int]) -> int | None:
        match = re.search(r"/pulls/(\d+)/", call.path)
        if match:
            return int(match.group(1))
        match = re.search(r"/git/trees/([0-9a-f]{40})", call.path)
        if match:
            return int(match.group(1), 16)
        if "/contents/" in call.path:
            ref = call.query.get("ref", "")
            return int(ref, 16) if re.fullmatch(r"[0-9a-f]{40}", ref) else None
        match = re.search(r"/check-runs/(\d+)", call.path)
        if match:
            return run_pr.get(int(match.group(1)))
        if call.path.endswith("/check-runs") and isinstance(call.body, dict):
            return int(str(call.body.get("head_sha", "0")), 16)
        return None

    async def stats(_request: web.Request) -> web.Response:
        run_pr = {run.id: int(run.request["head_sha"], 16) for run in fake.check_runs.values()}
        by_kind: dict[str, Counter[str]] = {kind: Counter() for kind in (*KINDS, "other")}
        for call in fake.calls:
            number = pr_of_call(call, run_pr)
            kind = kind_of(number, args.mix) if number else "other"
            by_kind[kind][call.operation] += 1
        reviews = {str(n): len(pull.reviews) for (_, n), pull in fake.pulls.items()}
        runs: dict[str, list[str]] = {}
        for run in fake.check_runs.values():
            runs.setdefault(str(run_pr[run.id]), []).append(f"{run.status}/{run.conclusion}")
        annotations = {
            str(run_pr[run.id]): len(run.annotations) for run in fake.check_runs.values()
        }
        return web.json_response(
            {
                "calls": len(fake.calls),
                "by_operation": fake.count(),
                "by_kind": by_kind,
                "statuses": Counter(str(call.status) for call in fake.calls),
                "reviews": reviews,
                "check_runs": runs,
                "annotations": annotations,
                "injected": fake.chaos.injected if fake.chaos else {},
                "errors": fake.errors[:20],
                "error_count": len(fake.errors),
            }
        )

    control = web.Application()
    control.router.add_get("/stats", stats)

    async def main() -> None:
        runners = [web.AppRunner(fake.app, access_log=None), web.AppRunner(control)]
        ports = []
        for runner in runners:
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            ports.append(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
        print("READY", *ports, flush=True)
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())


# -- child: the App, with scaled waits -------------------------------------------------------


def run_serve(args: argparse.Namespace) -> None:
    import logging

    import aiohttp
    from aiohttp import web

    from bot.app.config import AppConfig
    from bot.app.github import GitHubApp, RetryPolicy
    from bot.app.metrics import Metrics
    from bot.app.server import create_app

    config = AppConfig.from_env(os.environ)
    logging.basicConfig(
        level=config.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    scale = args.sleep_scale

    async def sleep(seconds: float) -> None:
        await asyncio.sleep(seconds * scale)

    def factory(session: aiohttp.ClientSession, config: AppConfig, metrics: Metrics) -> GitHubApp:
        return GitHubApp(
            session,
            app_id=config.app_id,
            private_key=config.private_key,
            api_url=config.api_url,
            metrics=metrics,
            sleep=sleep,
            policy=RetryPolicy(timeout=args.timeout),
            etag_cache_bytes=config.etag_cache_bytes,
        )

    app = create_app(config, github_factory=factory)
    app.router.add_get("/bench/memory", memory_report(app))
    if not args.unguarded:
        from bot.app.commands import serve_app

        serve_app(app, config, ready=lambda: print("READY", config.port, flush=True))
        return
    # Connections as serve took them before bot/app/connections.py: straight to aiohttp.
    web.run_app(
        app,
        host=config.host,
        port=config.port,
        shutdown_timeout=config.drain_seconds + 5,
        print=lambda _message: print("READY", config.port, flush=True),
    )


def run_worker(args: argparse.Namespace) -> None:
    """``wheelwatch worker`` (Redis mode) with the same scaled waits as ``serve``."""
    import logging

    import aiohttp

    from bot.app.config import AppConfig
    from bot.app.github import GitHubApp, RetryPolicy
    from bot.app.metrics import Metrics
    from bot.app.worker import build_worker

    config = AppConfig.from_env(os.environ)
    logging.basicConfig(
        level=config.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )

    async def sleep(seconds: float) -> None:
        await asyncio.sleep(seconds * args.sleep_scale)

    def factory(session: aiohttp.ClientSession, config: AppConfig, metrics: Metrics) -> GitHubApp:
        return GitHubApp(
            session,
            app_id=config.app_id,
            private_key=config.private_key,
            api_url=config.api_url,
            metrics=metrics,
            sleep=sleep,
            policy=RetryPolicy(timeout=args.timeout),
            etag_cache_bytes=config.etag_cache_bytes,
        )

    print("READY", os.getpid(), flush=True)
    if args.start_file:
        # Released with the other workers of a trial once all have started (redis_scale.py).
        while not Path(args.start_file).exists():
            time.sleep(0.005)
    build_worker(config, github_factory=factory).run()


def malloc_info() -> dict[str, float]:
    """glibc's view of the heap (mallinfo2): bytes in use, and free but kept, in KiB."""
    import ctypes

    class MallInfo2(ctypes.Structure):
        _fields_ = [
            (name, ctypes.c_size_t)
            for name in (
                "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
                "uordblks", "fordblks", "keepcost",
            )
        ]  # fmt: skip

    try:
        libc = ctypes.CDLL(None)
        libc.mallinfo2.restype = MallInfo2
        info = libc.mallinfo2()
    except (OSError, AttributeError):
        return {}
    return {
        "malloc_in_use_kib": (info.uordblks + info.hblkhd) / 1024,
        "malloc_free_kib": info.fordblks / 1024,
    }


def memory_report(app: Any) -> Any:
    """The handler of ``GET /bench/memory`` in the ``serve`` child."""
    import gc
    import tracemalloc

    from aiohttp import web

    from bot.app.server import SERVICE

    frames = int(os.environ.get("WHEELWATCH_BENCH_TRACEMALLOC") or 0)
    if frames:
        tracemalloc.start(frames)
    previous: list[Any] = [tracemalloc.take_snapshot() if frames else None]
    ignore = [
        tracemalloc.Filter(False, tracemalloc.__file__),
        tracemalloc.Filter(False, "<frozen importlib._bootstrap>"),
        tracemalloc.Filter(False, "<unknown>"),
    ]

    async def report(_request: Any) -> Any:
        service = app[SERVICE]
        github = service.processor.github
        etags = github.etags if github is not None else None
        data: dict[str, Any] = {
            "seen": len(service.seen),
            "commit_claims": len(service.commits._claimed),
            "etag_entries": len(etags) if etags is not None else 0,
            "etag_bytes": etags.bytes if etags is not None else 0,
            "subjects": len(service.order),
            "queue": service.queue.qsize(),
            "gc_objects": len(gc.get_objects()),
            **malloc_info(),
        }
        if frames:
            gc.collect()
            snapshot = tracemalloc.take_snapshot().filter_traces(ignore)
            key = "traceback" if frames > 1 else "lineno"
            diff = snapshot.compare_to(previous[0], key) if previous[0] else []
            previous[0] = snapshot
            data["traced_kib"] = tracemalloc.get_traced_memory()[0] / 1024
            data["top"] = [
                {
                    "kib": stat.size_diff / 1024,
                    "count": stat.count_diff,
                    "where": [f"{f.filename}:{f.lineno}" for f in stat.traceback][-frames:],
                }
                for stat in diff[:12]
            ]
        return web.json_response(data)

    return report


# -- child: the baseline endpoint ------------------------------------------------------------


def run_baseline(args: argparse.Namespace) -> None:
    from aiohttp import web

    secret = os.environ["GITHUB_WEBHOOK_SECRET"].encode()

    async def webhook(request: web.Request) -> web.Response:
        body = await request.read()
        expected = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(request.headers.get("X-Hub-Signature-256", ""), expected):
            return web.json_response({"error": "invalid signature"}, status=401)
        return web.json_response({"status": "accepted"}, status=202)

    app = web.Application()
    app.router.add_post("/webhook", webhook)
    web.run_app(
        app,
        host="127.0.0.1",
        port=args.port,
        access_log=None,
        print=lambda _message: print("READY", args.port, flush=True),
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="role", required=True)
    fake = sub.add_parser("fake-github")
    fake.add_argument("--public-key", required=True)
    fake.add_argument("--prs", type=int, default=2)
    fake.add_argument("--mix", action="store_true")
    fake.add_argument("--latency", type=float, default=0.0)
    fake.add_argument("--faults", action="store_true")
    fake.add_argument("--stall", type=float, default=2.0)
    fake.add_argument("--seed", type=int, default=4)
    fake.add_argument("--lost-writes", type=float, default=0.0)
    fake.add_argument("--huge-jobs", type=int, default=0)
    worker = sub.add_parser("worker")
    worker.add_argument("--sleep-scale", type=float, default=1.0)
    worker.add_argument("--start-file", help="wait until this file exists, then start")
    worker.add_argument("--timeout", type=float, default=30.0)
    serve = sub.add_parser("serve")
    serve.add_argument("--sleep-scale", type=float, default=1.0)
    serve.add_argument("--timeout", type=float, default=30.0)
    serve.add_argument(
        "--unguarded", action="store_true", help="no connection cap or header timeout (baseline)"
    )
    baseline = sub.add_parser("baseline")
    baseline.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    roles = {
        "fake-github": run_fake_github,
        "serve": run_serve,
        "worker": run_worker,
        "baseline": run_baseline,
    }
    profile_to = os.environ.get("WHEELWATCH_BENCH_CPU_PROFILE")
    if not profile_to or args.role not in ("worker", "fake-github"):
        roles[args.role](args)
        return
    import cProfile
    import signal

    # CPU time, not wall time: on a shared machine a sampled stack is often one waiting for a
    # core, which says nothing about what the process spends its CPU on. SIGTERM (the bench's
    # stop) exits through the dump; arq's worker handles it itself and returns.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    profile = cProfile.Profile(time.process_time)
    try:
        profile.runcall(roles[args.role], args)
    finally:
        profile.dump_stats(f"{profile_to}.{args.role}.{os.getpid()}")


def get(url: str) -> Any:
    """A tiny synchronous GET for the drivers' control calls (stats, metrics, health)."""
    import urllib.request

    with urllib.request.urlopen(url, timeout=30) as response:
        raw = response.read()
    return json.loads(raw) if raw.startswith((b"{", b"[")) else raw.decode()


def _answers(url: str) -> bool:
    try:
        get(url)
    except OSError:
        return False
    return True


def wait_until(predicate: Any, timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()  # type: ignore[no-any-return]


if __name__ == "__main__":
    main()

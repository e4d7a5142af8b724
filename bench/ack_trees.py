"""Webhook acknowledgement: the same server from two or more trees, alternated, CPU per request.

    python bench/ack_trees.py TREE TREE... [--mode redis|embedded] [--connections C]
                              [--seconds S] [--runs N]

``webhook_ack.py``'s ratios move with the machine's load more than a change moves them; this
compares code instead: each tree's ``wheelwatch serve`` (its own code, chosen by
``PYTHONPATH=<tree>``; a tree exported with ``git archive`` needs ``../shared`` next to it) runs
at once, the Redis web process (``--mode redis``, one redis-server for all, emptied after each
figure) or the embedded App, and ``webhook_ack.py``'s wrk script drives them in turn, the order
reversed on every other run. Prints each figure and, per tree, the web process's CPU per request
(utime+stime from /proc, all answers) and its median. A benchmark, not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness
import webhook_ack


def settle(metrics_url: str) -> None:
    """The embedded App has processed every delivery it accepted (as webhook_ack.py waits)."""

    def done() -> bool:
        outcomes = harness.parse_metrics(harness.get(metrics_url))["outcomes"]
        return harness.finished(outcomes) >= outcomes["accepted"]

    if not harness.wait_until(done, 120, 0.1):
        print("bench: the App did not finish its backlog within 120 s", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("trees", nargs="+", type=Path)
    parser.add_argument("--mode", choices=["redis", "embedded"], default="redis")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--runs", type=int, default=6)
    args = parser.parse_args()
    trees = [tree.resolve() for tree in args.trees]

    from fake_github import APP_ID, SECRET, WEBHOOKS

    from bot.app.replay import signature

    work = Path(tempfile.mkdtemp(prefix="wheelwatch-trees-"))
    private, public = harness.rsa_keys()
    (work / "app.pem").write_text(private)
    (work / "public.pem").write_text(public)
    body = (WEBHOOKS / "pull_request.opened.2.json").read_bytes()
    (work / "body.json").write_bytes(body)
    script = work / "deliver.lua"
    script.write_text(
        webhook_ack.LUA % {"body": work / "body.json", "signature": signature(body, SECRET)}
    )
    fake = harness.Child(
        ["fake-github", "--public-key", str(work / "public.pem"), "--prs", "2"],
        log=work / "fake.log",
    )
    sock = work / "redis.sock"
    redis_server = None
    if args.mode == "redis":
        redis_server = harness.Child(
            [],
            command=["redis-server", "--port", "0", "--unixsocket", str(sock), "--save", ""],
            log=work / "redis.log",
            ready_file=sock,
        )
    script_path = Path(sys.executable).with_name("wheelwatch")
    serve = [str(script_path)] if script_path.exists() else [sys.executable, "-m", "bot"]
    servers: list[tuple[str, harness.Child]] = []
    figures: dict[Path, list[dict[str, Any]]] = {tree: [] for tree in trees}
    try:
        for n, tree in enumerate(trees):
            port = harness.free_port()
            env = {
                "GITHUB_APP_ID": APP_ID,
                "GITHUB_PRIVATE_KEY_PATH": str(work / "app.pem"),
                "GITHUB_WEBHOOK_SECRET": SECRET,
                "GITHUB_API_URL": f"http://127.0.0.1:{fake.ready[0]}",
                "HOST": "127.0.0.1",
                "PORT": str(port),
                "LOG_LEVEL": "INFO",
                "PYTHONPATH": str(tree),
            }
            if args.mode == "redis":
                env["WHEELWATCH_REDIS_URL"] = f"unix://{sock}"
                env["WHEELWATCH_QUEUE_SIZE"] = "100000"
            child = harness.Child(
                [],
                command=[*serve, "serve"],
                env=env,
                log=work / f"app-{n}.log",
                health=f"http://127.0.0.1:{port}/healthz",
            )
            servers.append((f"http://127.0.0.1:{port}/webhook", child))
        for n, (url, child) in enumerate(servers):  # warm-up, not counted
            webhook_ack.wrk(url, script, 16, 1, f"warm-{n}", child.pid)
        for run in range(args.runs):
            order = list(range(len(trees)))
            if run % 2:
                order.reverse()
            for n in order:
                url, child = servers[n]
                redis_pid = redis_server.pid if redis_server else None
                figure = webhook_ack.wrk(
                    url, script, args.connections, args.seconds, f"r{run}-{n}", child.pid, redis_pid
                )
                figures[trees[n]].append(figure)
                print(
                    f"run {run + 1} {trees[n]}: {figure['rps']:.0f} 202/s, "
                    f"p99 {figure['p99_ms']:.2f} ms, CPU {figure['cpu_us_per_request']:.0f} "
                    f"us/req (+ redis-server {figure['redis_cpu_us_per_request']:.0f}), "
                    f"load average {os.getloadavg()[0]:.1f}",
                    file=sys.stderr,
                )
                if redis_server is not None:
                    subprocess.run(
                        ["redis-cli", "-s", str(sock), "flushall"], check=True, capture_output=True
                    )
                else:
                    settle(url.replace("/webhook", "/metrics"))
    finally:
        for _, child in servers:
            child.stop()
        for other in (redis_server, fake):
            if other is not None:
                other.stop()

    print(
        f"\n{args.mode} web process, {args.connections} connections, {args.seconds:g} s per "
        f"figure, {args.runs} runs alternated; CPU us per request:"
    )
    for tree in trees:
        cpu = sorted(round(figure["cpu_us_per_request"]) for figure in figures[tree])
        rps = statistics.median(figure["rps"] for figure in figures[tree])
        print(f"{tree}: {cpu}, median {statistics.median(cpu):.0f}; median {rps:.0f} 202/s")


if __name__ == "__main__":
    main()

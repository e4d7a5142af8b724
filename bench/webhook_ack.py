"""Webhook acknowledgement: the App against a minimal HMAC-only aiohttp endpoint, same run.

    python bench/webhook_ack.py [--runs N] [--seconds S] [--levels 1,16,64] [--json]

Starts, each in its own process on 127.0.0.1: the fake GitHub (tests/fake_github.py), the App
as deployed (`wheelwatch serve`, LOG_LEVEL=INFO, default workers and queue), and the baseline
(bench/harness.py baseline: read the body, hmac.compare_digest the X-Hub-Signature-256, answer
202). wrk (Debian's package; one thread, C connections, S seconds per figure) posts the signed
`pull_request.opened.2` payload from ../shared/fixtures/webhooks with a new X-GitHub-Delivery
on every request (a Lua script), so no request is a duplicate. That pull request changes no
workflow (the fake lists one README.md), so the App's work after the 202 is one GitHub call,
or none when a later delivery for the same pull request supersedes it.

Per level and target: requests/s of 202 answers, p50/p99 latency (wrk's, all answers), other
statuses, and the server's CPU time per request (utime+stime from /proc, including the work
after the 202). Medians over N runs; the two targets alternate within each run. After each App
figure the bench waits until every accepted delivery is processed, so runs do not overlap.
This is a benchmark, not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness

LUA = r"""
local f = assert(io.open("%(body)s", "rb"))
wrk.body = f:read("*a")
f:close()
wrk.method = "POST"
wrk.path = "/webhook"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-GitHub-Event"] = "pull_request"
wrk.headers["X-Hub-Signature-256"] = "%(signature)s"
wrk.headers["User-Agent"] = "GitHub-Hookshot/wheelwatch-bench"

local threads = {}
function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  prefix = args[1] or "run"
  sent = 0
  statuses = {}
end

function request()
  sent = sent + 1
  wrk.headers["X-GitHub-Delivery"] = prefix .. "-" .. tid .. "-" .. sent
  return wrk.format()
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local total = {}
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("statuses")) do total[k] = (total[k] or 0) + v end
  end
  local e = summary.errors
  io.write("WW duration_us ", summary.duration, "\n")
  io.write("WW requests ", summary.requests, "\n")
  io.write("WW socket_errors ", e.connect + e.read + e.write + e.timeout, "\n")
  io.write("WW p50_us ", latency:percentile(50), "\n")
  io.write("WW p99_us ", latency:percentile(99), "\n")
  for k, v in pairs(total) do io.write("WW status_", k, " ", v, "\n") end
end
"""


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wrk(
    url: str,
    script: Path,
    connections: int,
    seconds: float,
    prefix: str,
    pid: int,
    redis_pid: int | None = None,
) -> dict[str, Any]:
    before = cpu_seconds(pid)
    redis_before = cpu_seconds(redis_pid) if redis_pid else 0.0
    output = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds:g}s",
            "--timeout",
            "10s",
            "-s",
            str(script),
            url,
            "--",
            prefix,
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    cpu = cpu_seconds(pid) - before
    redis_cpu = cpu_seconds(redis_pid) - redis_before if redis_pid else 0.0
    values: dict[str, Any] = {"statuses": {}}
    for line in output.splitlines():
        if line.startswith("WW "):
            _, key, value = line.split()
            if key.startswith("status_"):
                values["statuses"][key.removeprefix("status_")] = int(value)
            else:
                values[key] = float(value)
    duration = values["duration_us"] / 1e6
    accepted = values["statuses"].get("202", 0)
    return {
        "rps": accepted / duration,
        "all_rps": values["requests"] / duration,
        "p50_ms": values["p50_us"] / 1000,
        "p99_ms": values["p99_us"] / 1000,
        "other": {k: v for k, v in values["statuses"].items() if k != "202"},
        "socket_errors": int(values["socket_errors"]),
        "requests": int(values["requests"]),
        "cpu_us_per_request": cpu / max(1, values["requests"]) * 1e6,
        # redis-server's share of the acknowledgement: it runs on the same cores.
        "redis_cpu_us_per_request": redis_cpu / max(1, values["requests"]) * 1e6,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--levels", default="1,16,64")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    parser.add_argument(
        "--redis", action="store_true", help="also the Redis mode's web process (redis-server)"
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("bench: wrk not found (apt-get install -y wrk)")
    levels = [int(level) for level in args.levels.split(",")]

    from fake_github import APP_ID, SECRET, WEBHOOKS

    from bot.app.replay import signature

    work = Path(tempfile.mkdtemp(prefix="wheelwatch-ack-"))
    private, public = harness.rsa_keys()
    (work / "app.pem").write_text(private)
    (work / "public.pem").write_text(public)
    body = (WEBHOOKS / "pull_request.opened.2.json").read_bytes()
    (work / "body.json").write_bytes(body)
    script = work / "deliver.lua"
    script.write_text(LUA % {"body": work / "body.json", "signature": signature(body, SECRET)})

    fake = harness.Child(
        ["fake-github", "--public-key", str(work / "public.pem"), "--prs", "2"],
        log=work / "fake.log",
    )
    app_port, base_port = harness.free_port(), harness.free_port()
    env = {
        "GITHUB_APP_ID": APP_ID,
        "GITHUB_PRIVATE_KEY_PATH": str(work / "app.pem"),
        "GITHUB_WEBHOOK_SECRET": SECRET,
        "GITHUB_API_URL": f"http://127.0.0.1:{fake.ready[0]}",
        "HOST": "127.0.0.1",
        "PORT": str(app_port),
        "LOG_LEVEL": "INFO",
    }
    script_path = Path(sys.executable).with_name("wheelwatch")
    serve = [str(script_path)] if script_path.exists() else [sys.executable, "-m", "bot"]
    app = harness.Child(
        [],
        command=[*serve, "serve"],
        env=env,
        log=work / "app.log",
        health=f"http://127.0.0.1:{app_port}/healthz",
    )
    base = harness.Child(["baseline", "--port", str(base_port)], env=env, log=work / "baseline.log")
    targets = {
        "baseline": (f"http://127.0.0.1:{base_port}/webhook", base),
        "app": (f"http://127.0.0.1:{app_port}/webhook", app),
    }
    redis_server = None
    if args.redis:
        # The Redis mode's web process alone: it verifies, records the id and enqueues the raw
        # body; no worker runs, and Redis is emptied after each figure (the queue would hold
        # ~0.7 GB of bodies per figure otherwise).
        sock = work / "redis.sock"
        redis_server = harness.Child(
            [],
            command=["redis-server", "--port", "0", "--unixsocket", str(sock), "--save", ""],
            log=work / "redis.log",
            ready_file=sock,
        )
        redis_port = harness.free_port()
        redis_env = {
            **env,
            "PORT": str(redis_port),
            "WHEELWATCH_REDIS_URL": f"unix://{sock}",
            "WHEELWATCH_QUEUE_SIZE": "100000",
        }
        redis_app = harness.Child(
            [],
            command=[*serve, "serve"],
            env=redis_env,
            log=work / "app-redis.log",
            health=f"http://127.0.0.1:{redis_port}/healthz",
        )
        targets["app-redis"] = (f"http://127.0.0.1:{redis_port}/webhook", redis_app)

        def flush_redis() -> None:
            subprocess.run(
                ["redis-cli", "-s", str(sock), "flushall"], check=True, capture_output=True
            )

    metrics_url = f"http://127.0.0.1:{app_port}/metrics"

    def settle() -> None:
        def done() -> bool:
            outcomes = harness.parse_metrics(harness.get(metrics_url))["outcomes"]
            return harness.finished(outcomes) >= outcomes["accepted"]

        if not harness.wait_until(done, 120, 0.1):
            print("bench: the App did not finish its backlog within 120 s", file=sys.stderr)

    results: dict[str, dict[int, list[dict[str, Any]]]] = {
        name: {level: [] for level in levels} for name in targets
    }
    try:
        for name, (url, child) in targets.items():  # warm-up, not counted
            wrk(url, script, 16, 1, f"warm-{name}", child.pid)
        settle()
        if redis_server is not None:
            flush_redis()
        for run in range(args.runs):
            order = list(targets) if run % 2 == 0 else list(reversed(targets))
            for level in levels:
                for name in order:
                    url, child = targets[name]
                    redis_pid = redis_server.pid if redis_server and name == "app-redis" else None
                    figure = wrk(
                        url, script, level, args.seconds, f"r{run}-c{level}", child.pid, redis_pid
                    )
                    results[name][level].append(figure)
                    if name == "app":
                        settle()
                    if name == "app-redis":
                        flush_redis()
                    print(
                        f"run {run + 1} c={level:<3} {name:<8} {figure['rps']:8.0f} req/s "
                        f"p50 {figure['p50_ms']:6.2f} ms  p99 {figure['p99_ms']:6.2f} ms  "
                        f"cpu {figure['cpu_us_per_request']:5.0f} us/req  "
                        f"redis {figure['redis_cpu_us_per_request']:4.0f} us/req  "
                        f"other {figure['other'] or '-'}",
                        file=sys.stderr,
                    )
        metrics = harness.parse_metrics(harness.get(metrics_url))
        stats = harness.get(f"http://127.0.0.1:{fake.ready[1]}/stats")
    finally:
        for name in targets:
            targets[name][1].stop()
        for child in (fake, redis_server):
            if child is not None:
                child.stop()

    def median(name: str, level: int, key: str) -> float:
        return statistics.median(figure[key] for figure in results[name][level])

    print(
        f"\nwebhook ack: wrk {wrk_version()} (1 thread), {args.seconds:g} s per figure, "
        f"{args.runs} runs, medians; {os.cpu_count()} CPUs; payload "
        f"pull_request.opened.2 ({len(body)} bytes)"
    )
    header = (
        "| connections | baseline req/s | App req/s | ratio | baseline p50 / p99 ms "
        "| App p50 / p99 ms | p99 ratio | CPU us/req baseline / App |"
    )
    print(header)
    print("|" + " --- |" * 8)
    summary: dict[str, Any] = {}
    for level in levels:
        b_rps, a_rps = median("baseline", level, "rps"), median("app", level, "rps")
        b50, b99 = median("baseline", level, "p50_ms"), median("baseline", level, "p99_ms")
        a50, a99 = median("app", level, "p50_ms"), median("app", level, "p99_ms")
        b_cpu = median("baseline", level, "cpu_us_per_request")
        a_cpu = median("app", level, "cpu_us_per_request")
        print(
            f"| {level} | {b_rps:.0f} | {a_rps:.0f} | **{a_rps / b_rps:.2f}x** | "
            f"{b50:.2f} / {b99:.2f} | {a50:.2f} / {a99:.2f} | **{a99 / b99:.2f}x** | "
            f"{b_cpu:.0f} / {a_cpu:.0f} |"
        )
        summary[str(level)] = {
            "baseline": {"rps": b_rps, "p50_ms": b50, "p99_ms": b99, "cpu_us": b_cpu},
            "app": {"rps": a_rps, "p50_ms": a50, "p99_ms": a99, "cpu_us": a_cpu},
            "throughput_ratio": a_rps / b_rps,
            "p99_ratio": a99 / b99,
        }
    if "app-redis" in targets:
        print("\nRedis mode (web process only), same run:")
        print(
            "| connections | baseline req/s | Redis-mode web 202/s | ratio "
            "| p99 ms baseline / web | p99 ratio | CPU us/req baseline / web + redis-server |"
        )
        print("|" + " --- |" * 7)
        for level in levels:
            b_rps, r_rps = median("baseline", level, "rps"), median("app-redis", level, "rps")
            b99, r99 = median("baseline", level, "p99_ms"), median("app-redis", level, "p99_ms")
            b_cpu = median("baseline", level, "cpu_us_per_request")
            r_cpu = median("app-redis", level, "cpu_us_per_request")
            s_cpu = median("app-redis", level, "redis_cpu_us_per_request")
            print(
                f"| {level} | {b_rps:.0f} | {r_rps:.0f} | **{r_rps / b_rps:.2f}x** | "
                f"{b99:.2f} / {r99:.2f} | **{r99 / b99:.2f}x** | "
                f"{b_cpu:.0f} / {r_cpu:.0f} + {s_cpu:.0f} |"
            )
            summary[str(level)]["app-redis"] = {
                "rps": r_rps,
                "p99_ms": r99,
                "cpu_us": r_cpu,
                "redis_server_cpu_us": s_cpu,
            }
    other = {
        name: {
            level: [figure["other"] for figure in results[name][level] if figure["other"]]
            for level in levels
        }
        for name in targets
    }
    outcomes = dict(metrics["outcomes"])
    print(f"\nnon-202 answers: {json.dumps(other)}")
    print(f"App outcomes: {json.dumps(outcomes, sort_keys=True)}")
    print(
        f"fake GitHub: {stats['calls']} calls {json.dumps(stats['by_operation'])}; "
        f"refused requests: {stats['error_count']}"
    )
    level = str(max(levels))
    if level in summary:
        figures = summary[level]
        verdict = figures["throughput_ratio"] >= 0.8 and figures["p99_ratio"] <= 1.2
        print(
            f"target at {level} connections (>= 0.8x throughput, p99 <= 1.2x): "
            f"{'met' if verdict else 'MISSED'}"
        )
    if args.json:
        print(json.dumps({"levels": summary, "outcomes": outcomes, "other": other}, indent=2))


def wrk_version() -> str:
    result = subprocess.run(["wrk", "-v"], capture_output=True, text=True)
    words = (result.stdout + result.stderr).split()
    return words[1] if len(words) > 1 else "?"


if __name__ == "__main__":
    main()

"""Acknowledgements while a pull request's huge workflow is analysed, against the same server
idle, same run.

    python bench/ack_under_analysis.py [--jobs 2000] [--pings 200]

Starts the fake GitHub (tests/fake_github.py, through bench/harness.py) holding a pull request
that adds a workflow of ``--jobs`` jobs (one finding and one fix each), and ``wheelwatch serve``
as deployed (default WHEELWATCH_ANALYSIS_PROCESSES). Then, one request at a time: ``--pings``
signed ``ping`` deliveries to the idle server (the baseline), the pull request's delivery, and
``--pings`` pings again while it is analysed; then it waits for the pull request to be
processed. Prints each phase's ack latency (p50, p99, max), the /metrics latency, how many
pings were answered before the pull request's analysis finished, and how long it took.
This is a benchmark, not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness


def post(port: int, body: bytes, event: str, secret: str) -> tuple[int, float]:
    from bot.app.replay import signature

    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": signature(body, secret),
    }
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    started = time.perf_counter()
    connection.request("POST", "/webhook", body=body, headers=headers)
    status = connection.getresponse().status
    elapsed = time.perf_counter() - started
    connection.close()
    return status, elapsed


def metrics_latency(port: int) -> tuple[float, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    started = time.perf_counter()
    connection.request("GET", "/metrics")
    text = connection.getresponse().read().decode()
    elapsed = time.perf_counter() - started
    connection.close()
    return elapsed, text


def processed(text: str) -> bool:
    return any(
        line.startswith("wheelwatch_deliveries_total")
        and 'event="pull_request"' in line
        and 'outcome="processed"' in line
        and float(line.rsplit(" ", 1)[1]) >= 1
        for line in text.splitlines()
    )


def summary(latencies: list[float]) -> str:
    ms = sorted(x * 1000 for x in latencies)
    p99 = ms[min(len(ms) - 1, round(0.99 * (len(ms) - 1)))]
    return f"p50 {statistics.median(ms):.1f} ms, p99 {p99:.1f} ms, max {ms[-1]:.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--pings", type=int, default=200)
    args = parser.parse_args()

    from fake_github import APP_ID, SECRET, pull_request_payload, webhook

    work = Path(tempfile.mkdtemp(prefix="wheelwatch-busy-"))
    private, public = harness.rsa_keys()
    (work / "app.pem").write_text(private)
    (work / "public.pem").write_text(public)
    role = ["fake-github", "--public-key", str(work / "public.pem"), "--prs", "0"]
    fake = harness.Child([*role, "--huge-jobs", str(args.jobs)], log=work / "fake.log")
    port = harness.free_port()
    env = {
        "GITHUB_APP_ID": APP_ID,
        "GITHUB_PRIVATE_KEY_PATH": str(work / "app.pem"),
        "GITHUB_WEBHOOK_SECRET": SECRET,
        "GITHUB_API_URL": f"http://127.0.0.1:{fake.ready[0]}",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "LOG_LEVEL": "INFO",
    }
    script = Path(sys.executable).with_name("wheelwatch")
    serve = [str(script)] if script.exists() else [sys.executable, "-m", "bot"]
    app = harness.Child(
        [], command=[*serve, "serve"], env=env, log=work / "app.log",
        health=f"http://127.0.0.1:{port}/healthz",
    )  # fmt: skip
    try:
        ping = json.dumps(webhook("ping.1")).encode()
        idle = [post(port, ping, "ping", SECRET)[1] for _ in range(args.pings)]
        idle_metrics = [metrics_latency(port)[0] for _ in range(20)]
        pull = pull_request_payload(number=1, head_sha=harness.head_sha(1))
        started = time.perf_counter()
        status, _ = post(port, json.dumps(pull).encode(), "pull_request", SECRET)
        busy, busy_metrics, before_done = [], [], 0
        for n in range(args.pings):
            busy.append(post(port, ping, "ping", SECRET)[1])
            if n % 10 == 0:
                elapsed, text = metrics_latency(port)
                busy_metrics.append(elapsed)
                if not processed(text):
                    before_done = n + 1
        while not processed(metrics_latency(port)[1]):
            time.sleep(0.2)
        total = time.perf_counter() - started
        print(f"pull request with {args.jobs} jobs: {status}, processed after {total:.1f} s")
        print(f"ping acks, idle server:        {summary(idle)}")
        print(f"ping acks, during the analysis: {summary(busy)}")
        print(f"  ({before_done} of {args.pings} pings sent before the analysis had finished)")
        print(f"/metrics, idle:                 {summary(idle_metrics)}")
        print(f"/metrics, during the analysis:  {summary(busy_metrics)}")
    finally:
        app.stop()
        fake.stop()


if __name__ == "__main__":
    main()

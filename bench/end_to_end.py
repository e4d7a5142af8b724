"""End to end: 2,000 pull_request deliveries through the App against a slow (or faulty) fake GitHub.

    python bench/end_to_end.py [--deliveries N] [--rounds R] [--latency S] [--faults] [--json]

Starts, each in its own process on 127.0.0.1: the fake GitHub (tests/fake_github.py, every
answer delayed by --latency, 20 ms by default) with pull requests 1..N, a third of them changing
no workflow, a third adding a clean workflow and a third an unsafe one (bench/harness.py), and
the App (create_app with the configuration `wheelwatch serve` reads, default 8 workers and a
256-deep queue). The driver posts one signed `pull_request.opened` delivery per pull request, 32
at a time, in R rounds; a 503 is redelivered with the same X-GitHub-Delivery after 50 ms, as
GitHub's redelivery would. After each round it waits until the App has processed every
accepted delivery and reads the App's RSS.

Figures: deliveries fully processed per second (first post to last delivery processed, per
round and overall), against the floor the fake's latency sets (8 workers, each delivery's calls
made one after another: 8 / (calls per delivery x latency)); GitHub calls per delivery by kind,
counted on the fake; the App's peak RSS (VmHWM) and its RSS after each round.

--faults: the fake fails 5 % of calls with 502, 2 % with a stall (the App's client times out,
0.5 s here) and 1 % with a secondary rate limit (403, retry-after: 1), and with
--lost-writes SHARE applies that share of writes and then loses their answer; the App's
waits are scaled by 0.05 (a backoff of 1 s waits 50 ms) so the run stays bounded. Then every
delivery must be processed exactly once: one completed check run per clean or unsafe PR
(holding its one annotation, or none), one review per unsafe PR, none otherwise, no delivery
dropped; and the RSS after the last round within 10 % of the RSS after the middle round (the
first round includes a full queue of parsed payloads).
The bench exits 1 if that does not hold. Without --faults it asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness

CONCURRENCY = 32


async def post_all(url: str, numbers: list[int], secret: str) -> Counter[str]:
    """Deliver one pull_request.opened per PR; 503s are redelivered (same id) until accepted."""
    import aiohttp
    from fake_github import pull_request_payload

    from bot.app.replay import webhook_headers

    answers: Counter[str] = Counter()
    pending = list(reversed(numbers))

    async def one(session: aiohttp.ClientSession) -> None:
        while pending:
            number = pending.pop()
            payload = pull_request_payload(number=number, head_sha=harness.head_sha(number))
            body = json.dumps(payload).encode()
            headers = webhook_headers(
                body, event="pull_request", secret=secret, delivery_id=f"e2e-{number}"
            )
            while True:
                async with session.post(url, data=body, headers=headers) as response:
                    await response.read()
                    answers[str(response.status)] += 1
                if response.status != 503:
                    break
                await asyncio.sleep(0.05)  # GitHub would redeliver much later

    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        await asyncio.gather(*(one(session) for _ in range(CONCURRENCY)))
    return answers


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deliveries", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--latency", type=float, default=0.020)
    parser.add_argument("--faults", action="store_true")
    parser.add_argument(
        "--lost-writes",
        type=float,
        default=0.0,
        metavar="SHARE",
        help="with --faults: also lose the answer of this share of writes after applying them",
    )
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--seen", type=int, help="WHEELWATCH_SEEN_DELIVERIES for the App (default: the App's)"
    )
    parser.add_argument("--claims", type=int, help="WHEELWATCH_COMMIT_CLAIMS for the App")
    parser.add_argument("--etag-bytes", type=int, help="WHEELWATCH_ETAG_CACHE_BYTES for the App")
    parser.add_argument(
        "--tracemalloc",
        type=int,
        default=0,
        metavar="FRAMES",
        help="trace the App's allocations; print the top growth after each round",
    )
    args = parser.parse_args()

    from fake_github import APP_ID, SECRET

    work = Path(tempfile.mkdtemp(prefix="wheelwatch-e2e-"))
    private, public = harness.rsa_keys()
    (work / "app.pem").write_text(private)
    (work / "public.pem").write_text(public)
    fake_args = [
        "fake-github",
        "--public-key",
        str(work / "public.pem"),
        "--prs",
        str(args.deliveries),
        "--mix",
        "--latency",
        str(args.latency),
    ]
    serve_args = ["serve"]
    if args.faults:
        fake_args += ["--faults", "--stall", "2", "--lost-writes", str(args.lost_writes)]
        serve_args += ["--sleep-scale", "0.05", "--timeout", "0.5"]
    fake = harness.Child(fake_args, log=work / "fake.log")
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
    for variable, value in (
        ("WHEELWATCH_SEEN_DELIVERIES", args.seen),
        ("WHEELWATCH_COMMIT_CLAIMS", args.claims),
        ("WHEELWATCH_ETAG_CACHE_BYTES", args.etag_bytes),
        ("WHEELWATCH_BENCH_TRACEMALLOC", args.tracemalloc or None),
    ):
        if value is not None:
            env[variable] = str(value)
    app = harness.Child(serve_args, env=env, log=work / "app.log")
    base = f"http://127.0.0.1:{port}"
    workers = 8  # AppConfig's default, which the child uses

    numbers = list(range(1, args.deliveries + 1))
    size = -(-len(numbers) // args.rounds)
    rounds: list[dict[str, Any]] = []
    answers: Counter[str] = Counter()
    try:
        rss_start = harness.rss_kib(app.pid)["VmRSS"]
        for index in range(args.rounds):
            chunk = numbers[index * size : (index + 1) * size]
            started = time.monotonic()
            answers += asyncio.run(post_all(base + "/webhook", chunk, SECRET))
            posted = time.monotonic()

            def done(target: int = chunk[-1]) -> bool:
                metrics = harness.parse_metrics(harness.get(base + "/metrics"))["outcomes"]
                return harness.finished(metrics) >= target

            if not harness.wait_until(done, 600, 0.02):
                print("bench: deliveries still unprocessed after 600 s", file=sys.stderr)
                return 1
            elapsed = time.monotonic() - started
            memory = harness.get(base + "/bench/memory")
            rss = harness.rss_kib(app.pid)
            rounds.append(
                {
                    "deliveries": len(chunk),
                    "seconds": elapsed,
                    "posting_seconds": posted - started,
                    "per_second": len(chunk) / elapsed,
                    "rss_mib": rss["VmRSS"] / 1024,
                    "peak_mib": rss["VmHWM"] / 1024,
                    "caches": {k: v for k, v in memory.items() if k != "top"},
                }
            )
            print(
                f"round {index + 1}: {len(chunk)} deliveries in {elapsed:.2f} s "
                f"({len(chunk) / elapsed:.0f}/s), RSS {rss['VmRSS'] / 1024:.1f} MiB, "
                f"peak {rss['VmHWM'] / 1024:.1f} MiB; caches: seen {memory['seen']}, "
                f"commit claims {memory['commit_claims']}, ETags {memory['etag_entries']} "
                f"({memory['etag_bytes'] / 1024:.0f} KiB); {memory['gc_objects']} objects; "
                f"malloc in use {memory.get('malloc_in_use_kib', 0) / 1024:.1f} MiB, "
                f"free {memory.get('malloc_free_kib', 0) / 1024:.1f} MiB"
                + (f"; traced {memory['traced_kib']:.0f} KiB" if "traced_kib" in memory else ""),
                file=sys.stderr,
            )
            for stat in memory.get("top", [])[:8]:
                print(
                    f"    {stat['kib']:+8.1f} KiB {stat['count']:+6d}  "
                    + " <- ".join(reversed(stat["where"])),
                    file=sys.stderr,
                )
        metrics = harness.parse_metrics(harness.get(base + "/metrics"))
        stats = harness.get(f"http://127.0.0.1:{fake.ready[1]}/stats")
    finally:
        app_code = app.stop()
        fake.stop()

    kinds = {k: sum(1 for n in numbers if harness.kind_of(n, True) == k) for k in harness.KINDS}
    total_seconds = sum(r["seconds"] for r in rounds)
    calls_per_kind = {
        kind: {op: count / kinds[kind] for op, count in sorted(stats["by_kind"][kind].items())}
        for kind in harness.KINDS
    }
    mean_calls = sum(sum(stats["by_kind"][k].values()) for k in harness.KINDS) / len(numbers)
    floor_rate = workers / (mean_calls * args.latency) if args.latency else float("inf")
    rate = len(numbers) / total_seconds
    peak = max(r["peak_mib"] for r in rounds)
    print(
        f"\nend to end: {len(numbers)} deliveries ({kinds['none']} no workflow change, "
        f"{kinds['clean']} clean, {kinds['unsafe']} unsafe), fake GitHub latency "
        f"{args.latency * 1000:.0f} ms/call{', faults injected' if args.faults else ''}; "
        f"{os.cpu_count()} CPUs"
    )
    per_round = ", ".join(f"{r['per_second']:.1f}" for r in rounds)
    rss_rounds = ", ".join(f"{r['rss_mib']:.1f}" for r in rounds)
    print(
        f"processed: {rate:.1f} deliveries/s overall (rounds: {per_round}); "
        f"latency floor {floor_rate:.1f}/s -> ratio **{rate / floor_rate:.2f}x**"
    )
    other = sum(stats["by_kind"]["other"].values())
    print(
        f"GitHub calls per delivery: {mean_calls:.2f} on average, counted on the fake "
        f"(plus {other} calls for no pull request: {dict(stats['by_kind']['other'])})"
    )
    for kind in harness.KINDS:
        total = sum(calls_per_kind[kind].values())
        detail = ", ".join(f"{op} {value:.2f}" for op, value in calls_per_kind[kind].items())
        print(f"  {kind:<6} {total:.2f}: {detail}")
    print(
        f"RSS: start {rss_start / 1024:.1f} MiB, after each round {rss_rounds} MiB; "
        f"peak {peak:.1f} MiB"
    )
    print(f"answers to the driver: {dict(answers)}; App outcomes: {dict(metrics['outcomes'])}")
    print(f"GitHub answers seen by the App: {dict(metrics['github'])}")
    if stats["injected"]:
        print(f"faults injected by the fake: {stats['injected']}")
    if stats["error_count"]:
        print(f"requests the fake refused as invalid: {stats['errors']}")

    problems = check_exactly_once(numbers, stats, metrics["outcomes"])
    # The first round fills the queue (parsed payloads waiting); caches fill after that, so
    # flatness is judged over the second half: RSS after the last round against the middle.
    middle = (len(rounds) - 1) // 2
    growth = rounds[-1]["rss_mib"] / rounds[middle]["rss_mib"]
    half = sum(r["deliveries"] for r in rounds[middle + 1 :]) or 1
    slope = (rounds[-1]["rss_mib"] - rounds[middle]["rss_mib"]) * 1024 * 1024 / half
    print(
        f"exactly once: {'yes' if not problems else 'NO'}; RSS last/first round "
        f"{rounds[-1]['rss_mib'] / rounds[0]['rss_mib']:.3f}x, last/middle round {growth:.3f}x "
        f"({slope:+.0f} bytes per delivery over the second half); App exit code {app_code}"
    )
    for problem in problems[:20]:
        print(f"  {problem}")
    if args.json:
        print(
            json.dumps(
                {
                    "rate": rate,
                    "floor_rate": floor_rate,
                    "rounds": rounds,
                    "calls_per_kind": calls_per_kind,
                    "peak_mib": peak,
                    "rss_growth_second_half": growth,
                    "bytes_per_delivery_second_half": slope,
                    "problems": problems,
                },
                indent=2,
            )
        )
    if args.faults and (problems or growth > 1.10):
        return 1
    return 0


def check_exactly_once(
    numbers: list[int], stats: dict[str, Any], outcomes: dict[str, int]
) -> list[str]:
    problems = []
    for number in numbers:
        kind = harness.kind_of(number, True)
        reviews = stats["reviews"].get(str(number), 0)
        runs = stats["check_runs"].get(str(number), [])
        want_reviews = 1 if kind == "unsafe" else 0
        want_runs = 0 if kind == "none" else 1
        if reviews != want_reviews:
            problems.append(f"PR {number} ({kind}): {reviews} reviews, expected {want_reviews}")
        if len(runs) != want_runs:
            problems.append(f"PR {number} ({kind}): {len(runs)} check runs, expected {want_runs}")
        elif runs and not runs[0].startswith("completed/"):
            problems.append(f"PR {number} ({kind}): check run {runs[0]}")
        elif runs and kind == "clean" and runs[0] != "completed/success":
            problems.append(f"PR {number} (clean): check run {runs[0]}")
        annotations = stats.get("annotations", {}).get(str(number), 0)
        if runs and annotations != (1 if kind == "unsafe" else 0):
            problems.append(f"PR {number} ({kind}): {annotations} annotations stored")
    processed = outcomes.get("processed", 0)
    if processed != len(numbers):
        lost = {k: v for k, v in outcomes.items() if k not in ("accepted", "processed")}
        problems.append(f"{processed} deliveries processed of {len(numbers)}: {lost}")
    return problems


if __name__ == "__main__":
    sys.exit(main())

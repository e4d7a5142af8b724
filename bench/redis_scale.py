"""The Redis mode end to end: two web processes, one or two worker processes, one Redis.

    python bench/redis_scale.py [--deliveries N] [--latency S] [--rounds R] [--jobs J]
    python bench/redis_scale.py --faults [--deliveries N]                      # kill + faults

Starts, each in its own process on 127.0.0.1: redis-server (a Unix socket, no persistence), the
fake GitHub (tests/fake_github.py; every answer delayed by --latency, 20 ms by default; PRs
1..N, a third changing no workflow, a third adding a clean workflow, a third an unsafe one),
two `wheelwatch serve` web processes with WHEELWATCH_REDIS_URL, and `wheelwatch worker`
processes (bench/harness.py worker: the worker as deployed, WHEELWATCH_WORKERS=8 each, --jobs).
The driver posts one signed pull_request.opened per PR, 32 at a time, alternating between the
two web processes; a 503 is redelivered (same id) after 50 ms.

Without --faults: all N deliveries are posted first, then the workers are started and released
together; throughput is N over the time from their release until Redis holds no queued or
running job. One worker process, then two (fresh Redis and fake each time), and the ratio;
--rounds R repeats the pair and prints the median ratio (the load of a shared machine moves
between trials). Each trial prints the CPU of every process per delivery and Redis's commands
per delivery. With --faults: the fake fails 5 % of calls with 502, 2 % with a 2 s stall (the
workers' client gives up after 0.5 s), 1 % with a secondary rate limit, and loses the answer of
2 % of writes after applying them; the workers run while the deliveries are posted (throughput
from the first post); every tenth delivery is sent again with the same id to the other web
process; worker 1 of 2 is SIGKILLed once half the deliveries are posted (its jobs come back
after the lease, --lease, 10 s here). Then every PR must have what it should, once: one
completed check run per clean or unsafe PR, one review per unsafe PR, nothing else. Exits 1 if
not. Benchmark, not test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness

CONCURRENCY = 32


async def post_all(
    urls: list[str], numbers: list[int], secret: str, *, halfway: Any = None
) -> Counter[str]:
    import aiohttp
    from fake_github import pull_request_payload

    from bot.app.replay import webhook_headers

    answers: Counter[str] = Counter()
    pending = list(reversed(numbers))
    posted = 0

    async def one(session: aiohttp.ClientSession) -> None:
        nonlocal posted
        while pending:
            number = pending.pop()
            payload = pull_request_payload(number=number, head_sha=harness.head_sha(number))
            body = json.dumps(payload).encode()
            headers = webhook_headers(
                body, event="pull_request", secret=secret, delivery_id=f"scale-{number}"
            )
            while True:
                url = urls[number % len(urls)]
                async with session.post(url, data=body, headers=headers) as response:
                    await response.read()
                    answers[str(response.status)] += 1
                if response.status != 503:
                    break
                await asyncio.sleep(0.05)
            posted += 1
            if halfway is not None and posted == len(numbers) // 2:
                halfway()

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        await asyncio.gather(*(one(session) for _ in range(CONCURRENCY)))
    return answers


def drained(client: Any) -> bool:
    """No job queued and none running. The queue's size first: it is one cheap command,
    where listing the running jobs scans every key (thousands here); this check runs every
    50 ms, and scanning each time cost the driver and redis-server more CPU than the web
    processes used."""
    if client.zcard("arq:queue"):
        return False
    return not any(True for _ in client.scan_iter("arq:in-progress:*", count=10_000))


def trial(args: argparse.Namespace, work: Path, workers: int, tag: str) -> dict[str, Any]:
    import redis
    from fake_github import APP_ID, SECRET

    sock = work / f"redis-{tag}.sock"
    redis_server = harness.Child(
        [],
        command=["redis-server", "--port", "0", "--unixsocket", str(sock), "--save", ""],
        log=work / f"redis-{tag}.log",
        ready_file=sock,
    )
    fake_args = ["fake-github", "--public-key", str(work / "public.pem")]
    fake_args += ["--prs", str(args.deliveries), "--mix", "--latency", str(args.latency)]
    worker_args = ["worker"]
    if args.faults:
        fake_args += ["--faults", "--stall", "2", "--lost-writes", "0.02"]
        worker_args += ["--sleep-scale", "0.05", "--timeout", "0.5"]
    fake = harness.Child(fake_args, log=work / f"fake-{tag}.log")
    env = {
        "GITHUB_APP_ID": APP_ID,
        "GITHUB_PRIVATE_KEY_PATH": str(work / "app.pem"),
        "GITHUB_WEBHOOK_SECRET": SECRET,
        "GITHUB_API_URL": f"http://127.0.0.1:{fake.ready[0]}",
        "HOST": "127.0.0.1",
        "LOG_LEVEL": "INFO",
        "WHEELWATCH_REDIS_URL": f"unix://{sock}",
        "WHEELWATCH_WORKERS": str(args.jobs),
        "WHEELWATCH_QUEUE_SIZE": "100000",
        "WHEELWATCH_LEASE_SECONDS": str(args.lease),
    }
    script = Path(sys.executable).with_name("wheelwatch")
    serve = [str(script)] if script.exists() else [sys.executable, "-m", "bot"]
    webs, urls = [], []
    for index in range(2):
        port = harness.free_port()
        webs.append(
            harness.Child(
                [],
                command=[*serve, "serve"],
                env={**env, "PORT": str(port)},
                log=work / f"web{index}-{tag}.log",
                health=f"http://127.0.0.1:{port}/healthz",
            )
        )
        urls.append(f"http://127.0.0.1:{port}/webhook")
    # Without --faults the queue is filled first and the workers then released together, so
    # that the time measured is theirs: posting while they work took the driver's and the web
    # processes' CPU from them, for a longer share of the faster trial.
    prefill = not args.faults
    start_file = work / f"start-{tag}"
    if prefill:
        worker_args += ["--start-file", str(start_file)]

    def start_workers() -> list[harness.Child]:
        return [
            harness.Child(worker_args, env=env, log=work / f"worker{i}-{tag}.log")
            for i in range(workers)
        ]

    pool = [] if prefill else start_workers()
    killed: list[float] = []

    def kill_one() -> None:
        if args.faults and workers > 1:
            pool[0].process.send_signal(signal.SIGKILL)
            killed.append(time.monotonic())

    numbers = list(range(1, args.deliveries + 1))
    try:
        if prefill:
            posting = time.monotonic()
            answers = asyncio.run(post_all(urls, numbers, SECRET))
            post_seconds = time.monotonic() - posting
            pool += start_workers()
        roles = {"redis-server": redis_server, "fake GitHub": fake}
        roles.update({"web 1": webs[0], "web 2": webs[1]})
        roles.update({f"worker {i + 1}": child for i, child in enumerate(pool)})
        cpu_before = cpu_by_role(roles)
        driver_before = driver_cpu()
        load_before = os.getloadavg()[0]
        started = time.monotonic()
        if prefill:
            start_file.touch()
        else:
            answers = asyncio.run(post_all(urls, numbers, SECRET, halfway=kill_one))
            post_seconds = time.monotonic() - started
        again: Counter[str] = Counter()
        if args.faults:
            # GitHub's redeliveries, to the other web process: duplicates, never work twice.
            redelivered = numbers[::10]
            again = asyncio.run(post_all(list(reversed(urls)), redelivered, SECRET))
        with redis.Redis(unix_socket_path=str(sock)) as client:
            if not harness.wait_until(lambda: drained(client), 600, 0.05):
                print("bench: the workers did not drain the queue in 600 s", file=sys.stderr)
            # Every client's commands (the web processes', the workers', this script's).
            commands = {
                name.removeprefix("cmdstat_"): int(value["calls"])
                for name, value in client.info("commandstats").items()
            }
        finished = time.monotonic()
        cpu_after = cpu_by_role(roles)
        cpu = {role: cpu_after[role] - cpu_before[role] for role in cpu_after}
        cpu["driver (this script)"] = driver_cpu() - driver_before
        load_after = os.getloadavg()[0]
        stats = harness.get(f"http://127.0.0.1:{fake.ready[1]}/stats")
    finally:
        for child in (*pool, *webs, fake, redis_server):
            child.stop()
    return {
        "workers": workers,
        "seconds": finished - started,
        "post_seconds": post_seconds,
        "prefilled": prefill,
        "per_second": len(numbers) / (finished - started),
        "answers": dict(answers),
        "redelivered": dict(again),
        "stats": stats,
        "killed": bool(killed),
        "cpu_seconds": cpu,
        "load": [load_before, load_after],
        "redis_commands": commands,
    }


def driver_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def cpu_by_role(roles: dict[str, harness.Child]) -> dict[str, float]:
    """CPU seconds so far of each process; a worker's apart from its analysis processes."""
    cpu = {}
    for role, child in roles.items():
        if role.startswith("worker"):
            own = harness.cpu_seconds(child.pid, tree=False)
            cpu[role] = own
            cpu[role + " analysis processes"] = harness.cpu_seconds(child.pid) - own
        else:
            cpu[role] = harness.cpu_seconds(child.pid)
    return cpu


def print_cpu(result: dict[str, Any], deliveries: int) -> None:
    cpu = result["cpu_seconds"]
    total = sum(cpu.values())
    print(
        f"  CPU over the trial, {total:.1f} s of {2 * result['seconds']:.1f} s on 2 cores "
        f"(load average {result['load'][0]:.1f} -> {result['load'][1]:.1f}); ms per delivery:"
    )
    for role, seconds in cpu.items():
        print(f"    {role:<34} {1000 * seconds / deliveries:7.2f}  ({seconds:.1f} s)")
    commands = Counter(result["redis_commands"])
    common = ", ".join(f"{name} {n / deliveries:.1f}" for name, n in commands.most_common(8))
    print(f"  Redis commands per delivery: {commands.total() / deliveries:.1f} ({common}, ...)")


def exactly_once(stats: dict[str, Any], deliveries: int) -> list[str]:
    problems = []
    for number in range(1, deliveries + 1):
        kind = harness.kind_of(number, True)
        reviews = stats["reviews"].get(str(number), 0)
        runs = stats["check_runs"].get(str(number), [])
        want_reviews = 1 if kind == "unsafe" else 0
        want_runs = 0 if kind == "none" else 1
        completed = [run for run in runs if run.startswith("completed/")]
        if reviews != want_reviews or len(runs) != want_runs or len(completed) != want_runs:
            problems.append(f"PR {number} ({kind}): {reviews} reviews, check runs {runs}")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deliveries", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.020)
    parser.add_argument("--lease", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=1, help="trials 1 then 2, this often")
    parser.add_argument("--jobs", type=int, default=8, help="WHEELWATCH_WORKERS of each worker")
    parser.add_argument(
        "--only", type=int, choices=(1, 2), help="one trial: this many worker processes"
    )
    parser.add_argument("--faults", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="wheelwatch-redis-"))
    private, public = harness.rsa_keys()
    (work / "app.pem").write_text(private)
    (work / "public.pem").write_text(public)

    if args.faults:
        result = trial(args, work, 2, "faults")
        problems = exactly_once(result["stats"], args.deliveries)
        print(
            f"faults: {args.deliveries} deliveries, 2 web + 2 workers (one SIGKILLed: "
            f"{result['killed']}), {result['per_second']:.1f}/s; answers {result['answers']}, "
            f"redelivered to the other web process {result['redelivered']}; injected "
            f"{result['stats']['injected']}; fake refused {result['stats']['error_count']}"
        )
        print(f"exactly once: {'yes' if not problems else 'NO'}; {problems[:10]}")
        if args.json:
            print(json.dumps(result, indent=2))
        return 1 if problems or result["stats"]["error_count"] else 0

    counts = (args.only,) if args.only else (1, 2)
    results, ratios = [], []
    for round_ in range(args.rounds):
        pair = [trial(args, work, workers, f"w{workers}-{round_}") for workers in counts]
        for result in pair:
            problems = exactly_once(result["stats"], args.deliveries)
            print(
                f"{result['workers']} worker process(es) x {args.jobs}: {args.deliveries} "
                f"deliveries in {result['seconds']:.1f} s = {result['per_second']:.1f}/s "
                f"(posted before, in {result['post_seconds']:.1f} s); answers "
                f"{result['answers']}; exactly once: {'yes' if not problems else problems[:5]}"
            )
            print_cpu(result, args.deliveries)
        if len(pair) == 2:
            ratios.append(pair[1]["per_second"] / pair[0]["per_second"])
            print(f"round {round_ + 1}: two workers / one: {ratios[-1]:.2f}x")
        results += pair
    if ratios:
        shown = " ".join(f"{ratio:.2f}" for ratio in ratios)
        print(f"two workers / one: median {statistics.median(ratios):.2f}x (rounds: {shown})")
    if args.json:
        print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

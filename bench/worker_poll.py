"""What one poll of a worker costs to find the jobs it may start, before and after FREE_JOBS.

    python bench/worker_poll.py [--polls 2000] [--rounds 3]

One redis-server (a Unix socket, no persistence). A poll is what ``wheelwatch worker`` sends
each ``POLL_SECONDS`` while it has a free slot and some job is due: arq's read of its window
(``ZRANGEBYSCORE ... LIMIT 0 100``, the window of a worker of 8 jobs), then our script that
keeps the jobs no worker is running. Starting them (``START_JOB``) is not measured: it is the
same in both.

* before: the script as of 121eb7b (``_NOT_RUNNING``, copied here as the baseline): the
  in-progress keys of the ids arq read, nothing further;
* after: ``bot.app.worker.FREE_JOBS``: the same check of the ids arq read, then, if arq's read
  filled its window, reads on past running jobs until it has a window of free ones.

Each scenario is a queue of running jobs (in-progress keys set), then queued ones. Reported per
poll: the client's wall time (median, 90th percentile) and redis-server's CPU (``INFO cpu``
delta over the polls), and how many free jobs the poll found. Both variants alternate, in
``--rounds`` rounds, so that both see the same load. Benchmark, not test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # puts the checkout and tests/ on sys.path

WINDOW = 100  # arq's queue_read_limit for max_jobs 8: max(8 * 5, 100)
IN_PROGRESS = "arq:in-progress:"
QUEUE = "arq:queue"

# The baseline, as bot/app/worker.py had it at 121eb7b.
NOT_RUNNING = """
local free = {}
for place, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 0 then free[#free + 1] = place end
end
return free
"""

# (name, running jobs at the queue's head, queued jobs behind them)
SCENARIOS = [
    ("2 workers busy, 100 queued", 16, 100),
    ("2 workers busy, none queued", 16, 0),
    ("150 running, 10 queued", 150, 10),
    ("16 running, 5000 queued", 16, 5000),
]


async def fill(redis: Any, running: int, queued: int) -> None:
    await redis.flushall()
    now = int(time.time() * 1000) - 60_000
    jobs = {f"job-{n}": now + n for n in range(running + queued)}
    async with redis.pipeline(transaction=False) as pipe:
        pipe.zadd(QUEUE, jobs)
        for n in range(running):
            pipe.set(f"{IN_PROGRESS}job-{n}", b"1", px=600_000)
        await pipe.execute()


async def poll_before(redis: Any, script: Any) -> int:
    ids = await redis.zrangebyscore(QUEUE, "-inf", int(time.time() * 1000), start=0, num=WINDOW)
    if not ids:
        return 0
    free = await script(keys=[IN_PROGRESS + i.decode() for i in ids])
    return len(free)


async def poll_after(redis: Any, script: Any) -> int:
    now = int(time.time() * 1000)
    ids = await redis.zrangebyscore(QUEUE, "-inf", now, start=0, num=WINDOW)
    if not ids:
        return 0
    free = await script(keys=[QUEUE], args=[now, WINDOW, IN_PROGRESS, *ids])
    return len(free)


async def server_cpu(redis: Any) -> float:
    cpu = await redis.info("cpu")
    return float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])


async def measure(redis: Any, variant: str, polls: int) -> dict[str, Any]:
    from bot.app.worker import FREE_JOBS

    script = redis.register_script(NOT_RUNNING if variant == "before" else FREE_JOBS)
    poll = poll_before if variant == "before" else poll_after
    found = await poll(redis, script)  # loads the script
    times = []
    cpu = await server_cpu(redis)
    for _ in range(polls):
        start = time.perf_counter()
        await poll(redis, script)
        times.append(time.perf_counter() - start)
    cpu = await server_cpu(redis) - cpu
    times.sort()
    return {
        "found": found,
        "wall_us": times[len(times) // 2] * 1e6,
        "p90_us": times[int(len(times) * 0.9)] * 1e6,
        "server_cpu_us": cpu / polls * 1e6,
    }


async def run(sock: Path, args: argparse.Namespace) -> dict[str, Any]:
    import redis.asyncio

    client = redis.asyncio.Redis(unix_socket_path=str(sock))
    results: dict[str, dict[str, list[dict[str, Any]]]] = {}
    try:
        for _ in range(args.rounds):
            for name, running, queued in SCENARIOS:
                await fill(client, running, queued)
                for variant in ("before", "after"):
                    runs = results.setdefault(name, {}).setdefault(variant, [])
                    runs.append(await measure(client, variant, args.polls))
    finally:
        await client.aclose()
    report: dict[str, Any] = {}
    for name, variants in results.items():
        report[name] = {
            variant: {
                "free jobs found": runs[0]["found"],
                "wall us (median of rounds' medians)": round(
                    statistics.median(r["wall_us"] for r in runs), 1
                ),
                "wall us p90 (median of rounds)": round(
                    statistics.median(r["p90_us"] for r in runs), 1
                ),
                "redis-server CPU us per poll (median of rounds)": round(
                    statistics.median(r["server_cpu_us"] for r in runs), 1
                ),
            }
            for variant, runs in variants.items()
        }
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--polls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="wheelwatch-poll-"))
    sock = work / "redis.sock"
    redis_server = harness.Child(
        [],
        command=["redis-server", "--port", "0", "--unixsocket", str(sock), "--save", ""],
        log=work / "redis.log",
        ready_file=sock,
    )
    try:
        report = asyncio.run(run(sock, args))
    finally:
        redis_server.stop()
    print(json.dumps({"polls": args.polls, "rounds": args.rounds, **report}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

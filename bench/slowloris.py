"""Slow-loris: is a real delivery acknowledged while 1,050 half-sent requests are open?

    python bench/slowloris.py [--connections 1050] [--fd-limit 1024] [--patience 10] [--json]

Starts the App twice, one after the other, each in its own process on 127.0.0.1 with its
RLIMIT_NOFILE lowered to --fd-limit (1024, the usual default; `prlimit`): guarded, as
`wheelwatch serve` runs it (bench/harness.py serve: at most WHEELWATCH_MAX_CONNECTIONS, 512,
connections, request headers within WHEELWATCH_HEADER_SECONDS, 10 s), and unguarded, the
baseline (harness serve --unguarded: web.run_app, as serve ran before bot/app/connections.py).
Against each:

1. a signed `ping` delivery on the idle server: its acknowledgement time;
2. --connections connections, each sending the start of a request's headers and nothing more;
3. the same delivery on a new connection: its status and time, or no answer within --patience s;
4. how many of the half-sent connections the server has closed, at once and by the header
   timeout plus 2 s (the guarded server's counts by reason, from /metrics).

A ping makes no GitHub call, so no fake GitHub runs. This is a benchmark, not a test.

    python bench/slowloris.py --guard-cost [--rounds 3] [--seconds 3]

The guard's own cost per request: an aiohttp endpoint that answers "ok", served plainly
(AppRunner + TCPSite) or through the ConnectionGuard (serve_guarded), each in its own process,
alternated; wrk (1 thread, 16 connections) on kept-alive connections and with a new connection
per request (`Connection: close`). Prints the server's CPU time (utime+stime from /proc) per
request, summed over the rounds, and requests/s; and, first, the guard's own code per request
timed in-process on stand-ins for aiohttp's handler (best of 5, alternated with the same calls
made directly), a figure the machine's load moves much less.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness

HALF_SENT = b"POST /webhook HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: pi"
HEADER_SECONDS = 10


def ping_request() -> bytes:
    from fake_github import SECRET, webhook

    from bot.app.replay import webhook_headers

    body = json.dumps(webhook("ping.4")).encode()
    headers = webhook_headers(body, event="ping", secret=SECRET)
    headers.update({"Content-Length": str(len(body)), "Connection": "close"})
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    return f"POST /webhook HTTP/1.1\r\nHost: x\r\n{head}\r\n".encode() + body


async def deliver(port: int, patience: float) -> dict[str, Any]:
    """One signed ping on a new connection: its status and time, or None past ``patience``."""
    started = time.perf_counter()
    try:
        async with asyncio.timeout(patience):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(ping_request())
            status_line = await reader.readline()
            writer.close()
    except (TimeoutError, OSError) as exc:
        return {"status": None, "ms": None, "error": type(exc).__name__}
    parts = status_line.split()
    status = int(parts[1]) if len(parts) > 1 else None
    return {"status": status, "ms": round((time.perf_counter() - started) * 1000, 1)}


async def closed(reader: asyncio.StreamReader) -> None:
    with contextlib.suppress(OSError):
        await reader.read()


async def attack(port: int, connections: int, patience: float) -> dict[str, Any]:
    idle = await deliver(port, patience)
    readers: list[asyncio.StreamReader] = []
    writers: list[asyncio.StreamWriter] = []
    failed = 0
    opened_at = time.perf_counter()
    for _ in range(connections):
        try:
            async with asyncio.timeout(2):
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(HALF_SENT)
                await writer.drain()
        except (TimeoutError, OSError):
            failed += 1
            continue
        readers.append(reader)
        writers.append(writer)
    opening_s = time.perf_counter() - opened_at
    under_attack = await deliver(port, patience)
    watchers = [asyncio.ensure_future(closed(reader)) for reader in readers]
    await asyncio.sleep(0.1)  # a measurement window, not synchronisation
    at_once = sum(task.done() for task in watchers)
    remaining = HEADER_SECONDS + 2 - (time.perf_counter() - opened_at)
    if watchers and remaining > 0:
        await asyncio.wait(watchers, timeout=remaining)
    by_deadline = sum(task.done() for task in watchers)
    for task in watchers:
        task.cancel()
    for writer in writers:
        writer.close()
    return {
        "idle_delivery": idle,
        "half_sent_opened": len(readers),
        "half_sent_failed": failed,
        "opening_s": round(opening_s, 2),
        "delivery_under_attack": under_attack,
        "closed_by_server_after_delivery": at_once,
        f"closed_by_server_within_{HEADER_SECONDS + 2}s": by_deadline,
    }


def closed_counts(port: int) -> dict[str, int]:
    counts: dict[str, int] = {}
    for line in harness.get(f"http://127.0.0.1:{port}/metrics").splitlines():
        if line.startswith("wheelwatch_connections_closed_total{"):
            reason = line.split('reason="')[1].split('"')[0]
            counts[reason] = int(float(line.split()[-1]))
    return counts


def trivial_server(mode: str, port: int) -> None:
    """Child: "ok" on GET /, plain or through a ConnectionGuard with serve's defaults."""
    from aiohttp import web

    from bot.app.connections import ConnectionGuard, serve_guarded
    from bot.app.metrics import Metrics

    async def ok(_request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def run() -> None:
        app = web.Application()
        app.router.add_get("/", ok)
        if mode == "guarded":
            guard = ConnectionGuard(max_connections=512, header_seconds=10, metrics=Metrics())
            await serve_guarded(app, guard, host="127.0.0.1", port=port, access_log=None)
        else:
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", port).start()
        print("READY", port, flush=True)
        await asyncio.Event().wait()

    asyncio.run(run())


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def guard_code_cost() -> dict[str, float]:
    """The guard's own Python per request, in-process: one data_received and one handled
    request on a kept-alive connection, through the guard and directly, on stand-ins for
    aiohttp's handler and application (best of 5 x 100,000, microseconds)."""
    import timeit
    from types import SimpleNamespace

    from bot.app.connections import ConnectionGuard
    from bot.app.metrics import Metrics

    class Handler:  # aiohttp's RequestHandler, as far as the guard sees it
        _request_count = 0

        def data_received(self, _data: bytes) -> None:
            pass

    async def application(_request: Any) -> Any:
        return None

    def run(handler: Any, receive: Any, handle: Any, request: Any) -> None:
        handler._request_count += 1  # the headers of one request are complete
        receive(b"x")
        coroutine = handle(request)
        with contextlib.suppress(StopIteration):
            coroutine.send(None)

    async def measure() -> dict[str, float]:
        guard = ConnectionGuard(max_connections=512, header_seconds=10, metrics=Metrics())
        handler = Handler()
        connection: Any = guard.connection(lambda: handler)  # type: ignore[arg-type]
        connection.handler = handler
        guard._open[handler] = connection  # type: ignore[index]
        request = SimpleNamespace(protocol=handler, keep_alive=True)
        guarded = guard.handling(application)
        ways = {
            "direct": lambda: run(handler, handler.data_received, application, request),
            "guarded": lambda: run(handler, connection.data_received, guarded, request),
        }
        best: dict[str, list[float]] = {name: [] for name in ways}
        for _ in range(5):  # alternated
            for name, way in ways.items():
                best[name].append(timeit.timeit(way, number=100_000) / 100_000 * 1e6)
        guard.close()
        return {name: min(times) for name, times in best.items()}

    return asyncio.run(measure())


def guard_cost(rounds: int, seconds: float) -> None:
    code = guard_code_cost()
    print(
        f"guard's code per kept-alive request, in-process: {code['guarded']:.2f} us against "
        f"{code['direct']:.2f} us without it (+{code['guarded'] - code['direct']:.2f} us)"
    )
    if shutil.which("wrk") is None:
        sys.exit("bench: wrk not found (apt-get install -y wrk)")
    work = Path(tempfile.mkdtemp(prefix="wheelwatch-guard-cost-"))
    totals: dict[tuple[str, str], list[float]] = {}
    for _ in range(rounds):
        for kind, extra in (("kept-alive", []), ("new connection", ["-H", "Connection: close"])):
            for mode in ("plain", "guarded"):
                port = harness.free_port()
                command = [sys.executable, __file__, "--trivial-server", mode, "--port", str(port)]
                child = harness.Child([], command=command, log=work / f"{mode}.log")
                try:
                    before = cpu_seconds(child.pid)
                    wrk = [
                        *("wrk", "-t1", "-c16", f"-d{seconds:g}s", *extra),
                        f"http://127.0.0.1:{port}/",
                    ]
                    out = subprocess.run(wrk, capture_output=True, text=True, check=True).stdout
                    cpu = cpu_seconds(child.pid) - before
                finally:
                    child.stop()
                requests = int(out.split(" requests in ")[0].split()[-1])
                total = totals.setdefault((kind, mode), [0.0, 0.0])
                total[0] += requests
                total[1] += cpu
    print(f"{rounds} rounds of {seconds:g} s, load average {os.getloadavg()[0]:.1f}")
    for (kind, mode), (answered, cpu) in totals.items():
        print(
            f"  {kind:14}  {mode:7}  {cpu / answered * 1e6:6.1f} us CPU per request, "
            f"{answered / (rounds * seconds):7.0f} requests/s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=1050)
    parser.add_argument("--fd-limit", type=int, default=1024)
    parser.add_argument("--patience", type=float, default=10.0)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--guard-cost", action="store_true")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--trivial-server", choices=("plain", "guarded"), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.trivial_server:
        trivial_server(args.trivial_server, args.port)
        return
    if args.guard_cost:
        guard_cost(args.rounds, args.seconds)
        return
    if shutil.which("prlimit") is None:
        sys.exit("bench: prlimit not found (util-linux)")
    # This process holds every half-sent connection: let it open them all.
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    from fake_github import APP_ID, SECRET

    work = Path(tempfile.mkdtemp(prefix="wheelwatch-slowloris-"))
    private, _public = harness.rsa_keys()
    (work / "app.pem").write_text(private)
    results: dict[str, Any] = {}
    for target, extra in (("guarded", []), ("unguarded", ["--unguarded"])):
        port = harness.free_port()
        env = {
            "GITHUB_APP_ID": APP_ID,
            "GITHUB_PRIVATE_KEY_PATH": str(work / "app.pem"),
            "GITHUB_WEBHOOK_SECRET": SECRET,
            "GITHUB_API_URL": "http://127.0.0.1:9",  # a ping calls nothing
            "WHEELWATCH_RELEASE_MANIFEST": "0",
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "LOG_LEVEL": "INFO",
            "WHEELWATCH_HEADER_SECONDS": str(HEADER_SECONDS),
        }
        script = str(Path(__file__).resolve().with_name("harness.py"))
        limit = f"--nofile={args.fd_limit}:{hard}"
        child = harness.Child(
            [],
            command=["prlimit", limit, "--", sys.executable, script, "serve", *extra],
            env=env,
            log=work / f"{target}.log",
        )
        try:
            results[target] = asyncio.run(attack(port, args.connections, args.patience))
            if target == "guarded":
                results[target]["closed_by_reason"] = closed_counts(port)
        finally:
            child.stop()
    print(
        f"{args.connections} half-sent requests, server RLIMIT_NOFILE {args.fd_limit}, "
        f"load average {os.getloadavg()[0]:.1f} (logs in {work})"
    )
    for target, figures in results.items():
        idle, attacked = figures["idle_delivery"], figures["delivery_under_attack"]
        answer = (
            f"{attacked['status']} in {attacked['ms']} ms"
            if attacked["status"]
            else f"no answer within {args.patience:g} s ({attacked['error']})"
        )
        print(
            f"  {target:9}  idle delivery {idle['status']} in {idle['ms']} ms; "
            f"{figures['half_sent_opened']} half-sent opened ({figures['half_sent_failed']} "
            f"failed) in {figures['opening_s']} s; then the delivery: {answer}; "
            f"half-sent closed by the server: {figures['closed_by_server_after_delivery']} "
            f"at once, {figures[f'closed_by_server_within_{HEADER_SECONDS + 2}s']} within "
            f"{HEADER_SECONDS + 2} s"
            + (f" {figures['closed_by_reason']}" if "closed_by_reason" in figures else "")
        )
    if args.json:
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

"""CPU per call of the webhook handler alone, in-process: no HTTP parsing, no socket.

    python bench/ack_handler.py embedded|redis|baseline [--calls N] [--rounds R] [--concurrency C]

wrk's figures (bench/webhook_ack.py) swing by ±30 % on this shared machine; this measures only what
the App's handler adds to what aiohttp and the kernel do for any endpoint, so it moves less.
Requests are built beforehand (aiohttp's make_mocked_request, the signed pull_request.opened.2 body
already received) and handled 64 at a time (asyncio.gather), as wrk's 64 connections arrive
(``--concurrency 1``: one at a time, as wrk's 1 connection); the cyclic GC is off while timing (its
pauses land on whichever call allocates). ``redis`` starts a redis-server on a Unix socket. Prints
the best of R rounds in µs of process CPU per call. To compare commits, run the other commit's
export of this script (``git archive``; copy this one there for options it lacks): ``harness`` puts
its own checkout first on ``sys.path``, so ``PYTHONPATH`` alone does not pick the code. A benchmark,
not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import hashlib
import hmac
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness
from aiohttp import streams, web
from aiohttp.test_utils import make_mocked_request


class _Protocol:
    """What aiohttp's StreamReader asks of its protocol."""

    _reading_paused = False

    def pause_reading(self, **_: Any) -> None:
        pass

    def resume_reading(self, **_: Any) -> None:
        pass


def signed_request(app: web.Application, body: bytes, signature: str, n: int) -> Any:
    payload = streams.StreamReader(_Protocol(), 2**16, loop=asyncio.get_running_loop())  # type: ignore[arg-type]
    payload.feed_data(body)
    payload.feed_eof()
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": "pull_request",
        "X-GitHub-Delivery": f"d-{n}",
        "X-Hub-Signature-256": signature,
        "Content-Length": str(len(body)),
    }
    return make_mocked_request("POST", "/webhook", headers=headers, payload=payload, app=app)


async def measure(
    mode: str, calls: int, rounds: int, concurrency: int, redis_socket: Path | None
) -> None:
    from fake_github import APP_ID, SECRET, WEBHOOKS, app_key_pair

    from bot.app.config import AppConfig

    body = (WEBHOOKS / "pull_request.opened.2.json").read_bytes()
    secret = SECRET.encode()
    signature = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
    config = AppConfig(
        app_id=APP_ID,
        private_key=app_key_pair()[0],
        webhook_secret=SECRET,
        api_url="http://127.0.0.1:9",
        release_manifest=False,
        redis_url=f"unix://{redis_socket}" if redis_socket else None,
    )
    if mode == "baseline":  # bench/harness.py's baseline endpoint

        async def handler(request: web.Request) -> web.Response:
            received = await request.read()
            expected = "sha256=" + hmac.new(secret, received, hashlib.sha256).hexdigest()
            if not hmac.compare_digest(request.headers.get("X-Hub-Signature-256", ""), expected):
                return web.json_response({"error": "invalid signature"}, status=401)
            return web.json_response({"status": "accepted"}, status=202)

        app = web.Application()
    elif mode == "embedded":
        from bot.app.server import SERVICE, create_app

        app = create_app(config)  # not started: accepted deliveries wait (each replaces the last)
        handler = app[SERVICE].handle_webhook
    else:
        from bot.app.queue_redis import RedisIntake
        from bot.app.server_redis import REDIS_WEBHOOK, connect, create_redis_app

        app = create_redis_app(config)
        service = app[REDIS_WEBHOOK]
        assert config.redis_url is not None
        service.intake = RedisIntake(await connect(config.redis_url), queue_size=10**6)
        handler = service.handle_webhook
    best, statuses, sent = float("inf"), set(), 0
    for _ in range(rounds):
        requests = [signed_request(app, body, signature, sent + i) for i in range(calls)]
        sent += calls
        gc.collect()
        gc.disable()
        started = time.process_time()
        for first in range(0, calls, concurrency):
            batch = requests[first : first + concurrency]
            answers = await asyncio.gather(*(handler(request) for request in batch))
            statuses.update(answer.status for answer in answers)
        best = min(best, (time.process_time() - started) / calls * 1e6)
        gc.enable()
    print(
        f"{mode} at {concurrency}: {best:.1f} us of CPU per call (best of {rounds});",
        f"answers {sorted(statuses)}",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=["embedded", "redis", "baseline"])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    redis_server = None
    socket = None
    if args.mode == "redis":
        socket = Path(tempfile.mkdtemp(prefix="wheelwatch-handler-")) / "redis.sock"
        redis_server = harness.Child(
            [],
            command=["redis-server", "--port", "0", "--unixsocket", str(socket), "--save", ""],
            log=socket.with_name("redis.log"),
            ready_file=socket,
        )
    try:
        asyncio.run(measure(args.mode, args.calls, args.rounds, args.concurrency, socket))
    finally:
        if redis_server is not None:
            redis_server.stop()


if __name__ == "__main__":
    main()

"""The ``serve`` and ``replay`` sub-commands; ``bot.cli`` registers them.

This is the entry point: the only place that reads the environment.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aiohttp import web

    from bot.app.config import AppConfig


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    serve = subparsers.add_parser(
        "serve",
        help="run the GitHub App webhook server",
        description="Run the GitHub App webhook server. Configuration comes from the "
        "environment: GITHUB_APP_ID, GITHUB_PRIVATE_KEY or GITHUB_PRIVATE_KEY_PATH, "
        "GITHUB_WEBHOOK_SECRET, GITHUB_API_URL, HOST, PORT, LOG_LEVEL (see docs/app.md).",
    )
    serve.set_defaults(func=run_serve)

    worker = subparsers.add_parser(
        "worker",
        help="process the deliveries that web processes queued in Redis",
        description="Process deliveries queued in Redis by `wheelwatch serve` processes. "
        "Needs WHEELWATCH_REDIS_URL and the App's settings (see docs/app.md).",
    )
    worker.set_defaults(func=run_worker)

    register_ = subparsers.add_parser(
        "register",
        help="create the GitHub App from app.yml (GitHub's manifest flow) and write .env",
        description="Serve a local page that sends app.yml to GitHub as an App manifest; once "
        "you confirm on GitHub, exchange the code GitHub sends back for the App's id, key and "
        "webhook secret, and write them to .env, which serve and worker read.",
    )
    register_.add_argument("--manifest", type=Path, default=Path("app.yml"))
    register_.add_argument("--env-file", type=Path, default=Path(".env"))
    register_.add_argument("--port", type=int, default=3000, help="(default: %(default)s)")
    register_.add_argument("--org", help="register the App for this organisation")
    register_.add_argument("--github-url", default="https://github.com")
    register_.add_argument("--api-url", default="https://api.github.com")
    register_.set_defaults(func=run_register)

    replay = subparsers.add_parser(
        "replay",
        help="sign a saved webhook payload and post it to a running server",
    )
    replay.add_argument("payload", type=Path, help="a JSON file holding the webhook body")
    replay.add_argument("--event", required=True, help="the X-GitHub-Event, e.g. pull_request")
    replay.add_argument(
        "--url", default="http://127.0.0.1:8080/webhook", help="(default: %(default)s)"
    )
    replay.add_argument(
        "--secret-env",
        default="GITHUB_WEBHOOK_SECRET",
        help="environment variable holding the webhook secret (default: %(default)s)",
    )
    replay.add_argument("--delivery", help="X-GitHub-Delivery id (default: a new UUID)")
    replay.set_defaults(func=run_replay)


def run_serve(args: argparse.Namespace) -> int:
    from bot.app.server import create_app
    from bot.app.server_redis import create_redis_app

    config = _configure("serve")
    if config is None:
        return 2
    log = logging.getLogger("bot.app")
    if config.redis_url is not None and not _redis_reachable("serve", config.redis_url):
        return 2
    log.info("starting with %r (%s)", config, "Redis" if config.redis_url else "embedded")
    app = create_redis_app(config) if config.redis_url else create_app(config)
    serve_app(app, config)
    return 0


def serve_app(
    app: web.Application, config: AppConfig, *, ready: Callable[[], None] | None = None
) -> None:
    """Serve ``app`` as ``wheelwatch serve`` does, until SIGTERM or SIGINT and the drain:
    connections bounded by a ConnectionGuard, ``_drain_before_exit`` on the signals. Logs
    "Running on ..." once listening (tests wait for it), then calls ``ready``."""
    import resource

    from bot.app.connections import ConnectionGuard, connection_cap, serve_guarded
    from bot.app.server import METRICS

    log = logging.getLogger("bot.app")
    app.on_startup.append(_drain_before_exit)
    fd_limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    cap = connection_cap(config.max_connections, fd_limit)
    if cap < config.max_connections:
        log.warning(
            "at most %d connections, not WHEELWATCH_MAX_CONNECTIONS=%d: half the process's "
            "file descriptor limit (ulimit -n: %d)",
            cap,
            config.max_connections,
            fd_limit,
        )
    guard = ConnectionGuard(
        max_connections=cap, header_seconds=config.header_seconds, metrics=app[METRICS]
    )
    serving = serve_guarded(
        app,
        guard,
        host=config.host,
        port=config.port,
        # SIGTERM and SIGINT are handled by _drain_before_exit.
        handle_signals=False,
        shutdown_timeout=config.drain_seconds + 5,
        keepalive_timeout=75.0,  # web.run_app's, which serve used before
        # One access-log line per request cost ~20 % of an acknowledgement (bench/README.md);
        # deliveries are logged and counted by the App itself, so it is only kept for DEBUG.
        access_log=logging.getLogger("aiohttp.access") if config.log_level == "DEBUG" else None,
    )

    def announce(runner: web.AppRunner) -> None:
        log.info(
            "Running on %s (at most %d connections; request headers within %gs)",
            ", ".join(sorted(site.name for site in runner.sites)),
            cap,
            config.header_seconds,
        )
        if ready is not None:
            ready()

    _run_until_exit(serving, announce)


def _run_until_exit(
    serving: Coroutine[Any, Any, web.AppRunner], announce: Callable[[web.AppRunner], None]
) -> None:
    """Serve until ``GracefulExit``, then clean up, as ``web.run_app`` does around its runner
    (run_app cannot hand connections to a ConnectionGuard): the runner's cleanup runs to its
    end before the tasks left are cancelled."""
    from aiohttp.web_runner import GracefulExit

    async def main() -> None:
        runner = await serving
        try:
            announce(runner)
            await asyncio.Event().wait()  # until _drain_before_exit raises GracefulExit
        finally:
            await runner.cleanup()

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    main_task = loop.create_task(main())
    try:
        loop.run_until_complete(main_task)
    except (GracefulExit, KeyboardInterrupt):
        pass
    finally:
        if not main_task.done():
            main_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                loop.run_until_complete(main_task)
        left = asyncio.all_tasks(loop)
        for task in left:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*left, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


async def _drain_before_exit(app: web.Application) -> None:
    """On SIGTERM or SIGINT: drain while still listening, then stop as aiohttp does.

    aiohttp's own handling stops listening and closes idle kept-alive connections first, and
    only then runs the drain: a delivery sent meanwhile, on a new connection or a kept-alive
    one, got no answer until the drain ended (12.8 s seen) instead of a 503 that GitHub can
    redeliver. A second signal stops at once.
    """
    from aiohttp.web_runner import GracefulExit

    from bot.app.server import SERVICE

    loop = asyncio.get_running_loop()
    stopping: set[asyncio.Task[None]] = set()

    def stop() -> None:
        raise GracefulExit()  # raised from a loop callback, as aiohttp's handler does

    async def drain_then_stop() -> None:
        service = app.get(SERVICE)
        if service is not None:
            await service.drain(app)
        loop.call_soon(stop)

    def on_signal() -> None:
        task = asyncio.ensure_future(drain_then_stop())
        stopping.add(task)
        task.add_done_callback(stopping.discard)

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal)


def _redis_reachable(command: str, url: str) -> bool:
    from bot.app.server_redis import unreachable

    problem = asyncio.run(unreachable(url))
    if problem is not None:
        if "CERTIFICATE_VERIFY_FAILED" in problem:
            # Heroku Redis presents a self-signed certificate: say what the URL can do about it.
            problem += (
                " To trust it, add ?ssl_ca_certs=<its CA file> to the URL, or"
                " ?ssl_cert_reqs=none to skip the check (docs/app.md, Heroku)."
            )
        print(f"wheelwatch {command}: configuration error:", file=sys.stderr)
        print(f"  WHEELWATCH_REDIS_URL cannot be reached: {problem}", file=sys.stderr)
    return problem is None


def _configure(command: str, *, needs_redis: bool = False) -> AppConfig | None:
    """The settings, or None once every problem with them is printed (all at once)."""
    from bot.app.config import AppConfig, ConfigurationError
    from bot.app.env_file import environment_with
    from bot.app.log_format import DeliveryField, formatter
    from bot.app.log_limits import RepeatedLines

    problems: list[str] = []
    try:
        # `wheelwatch register` writes .env; the real environment wins over it.
        environment = environment_with(Path(".env"), os.environ)
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(f".env cannot be read: {exc}")
        environment = dict(os.environ)  # the rest is still checked
    config: AppConfig | None = None
    try:
        config = AppConfig.from_env(environment)
    except ConfigurationError as exc:
        problems += exc.problems
    redis_url = config.redis_url if config is not None else environment.get("WHEELWATCH_REDIS_URL")
    if needs_redis and not redis_url:
        problems.append("WHEELWATCH_REDIS_URL is not set (a worker takes its deliveries from it)")
    if problems or config is None:
        print(f"wheelwatch {command}: configuration error:", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return None
    handler = logging.StreamHandler()
    handler.setFormatter(formatter(config.log_format))
    handler.addFilter(DeliveryField())
    handler.addFilter(RepeatedLines())
    logging.basicConfig(level=config.log_level, handlers=[handler])
    return config


def run_worker(args: argparse.Namespace) -> int:
    from bot.app.worker import build_worker

    config = _configure("worker", needs_redis=True)
    if config is None or config.redis_url is None:
        return 2
    if not _redis_reachable("worker", config.redis_url):
        return 2
    from redis.exceptions import RedisError

    logging.getLogger("bot.app").info("worker starting with %r", config)
    try:
        build_worker(config).run()
    except (RedisError, OSError) as exc:
        # Not the URL: it may hold a password.
        print(f"wheelwatch worker: cannot use WHEELWATCH_REDIS_URL: {exc!r}", file=sys.stderr)
        return 1
    return 0


def run_register(args: argparse.Namespace) -> int:
    from bot.app.register import Registration, load_manifest, run_registration

    try:
        manifest = load_manifest(args.manifest)
    except (OSError, ValueError) as exc:
        print(f"wheelwatch register: cannot read the manifest: {exc}", file=sys.stderr)
        return 2
    try:
        # Before GitHub is asked: the private key it gives once must have somewhere to go.
        os.close(os.open(args.env_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
    except OSError as exc:
        print(f"wheelwatch register: cannot write {args.env_file}: {exc}", file=sys.stderr)
        return 2
    host = "127.0.0.1"
    registration = Registration(
        manifest=manifest,
        redirect_url=f"http://{host}:{args.port}/callback",
        env_path=args.env_file,
        github_url=args.github_url.rstrip("/"),
        api_url=args.api_url.rstrip("/"),
        organization=args.org,
    )

    async def announce(url: str) -> None:
        print(f"Open {url} in a browser and confirm on GitHub.", flush=True)

    app = asyncio.run(run_registration(registration, host=host, port=args.port, announce=announce))
    print(f"Registered App {app.get('id')} ({app.get('html_url')}); settings in {args.env_file}.")
    return 0


def run_replay(args: argparse.Namespace) -> int:
    import aiohttp

    from bot.app.replay import replay

    secret = os.environ.get(args.secret_env, "")
    if not secret:
        print(f"wheelwatch replay: {args.secret_env} is not set", file=sys.stderr)
        return 2
    try:
        body = args.payload.read_bytes()
        json.loads(body)
    except (OSError, ValueError) as exc:
        print(f"wheelwatch replay: cannot read {args.payload}: {exc}", file=sys.stderr)
        return 2
    try:
        status, text = asyncio.run(
            replay(args.url, body, event=args.event, secret=secret, delivery_id=args.delivery)
        )
    except (OSError, TimeoutError, aiohttp.ClientError) as exc:
        print(f"wheelwatch replay: cannot reach {args.url}: {exc}", file=sys.stderr)
        return 1
    print(f"{status} {text}")
    return 0 if status < 400 else 1

"""The server's configuration, read once from the environment into a frozen object."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TypeVar

import jwt
from gidgethub import apps

from bot.app.redis_settings import tls_options

DEFAULT_API_URL = "https://api.github.com"
# GitHub caps webhook payloads at 25 MB; a body larger than that is not from GitHub.
DEFAULT_MAX_BODY_BYTES = 25 * 1024 * 1024
# Every cache the server keeps is bounded by one of these (see docs/app.md, "Memory").
DEFAULT_SEEN_DELIVERIES = 50_000
DEFAULT_COMMIT_CLAIMS = 10_000
DEFAULT_ETAG_CACHE_BYTES = 8 * 1024 * 1024
DEFAULT_LEASE_SECONDS = 30.0
DEFAULT_RERUN_DELAYS = (30.0, 120.0, 600.0)
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
DEFAULT_ANALYSIS_CACHE_BYTES = 32 * 1024 * 1024


T = TypeVar("T")


class ConfigurationError(ValueError):
    """Settings are missing or malformed; each problem names its variable."""

    def __init__(self, problems: str | list[str]) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("; ".join(self.problems))


@dataclass(frozen=True)
class AppConfig:
    app_id: str
    # Secrets stay out of repr() so that logging the config cannot leak them.
    private_key: str = field(repr=False)
    webhook_secret: str = field(repr=False)
    api_url: str = DEFAULT_API_URL
    host: str = "0.0.0.0"
    port: int = 8080
    log_level: str = "INFO"
    # "text", or "json": one JSON object per line (bot/app/log_format.py).
    log_format: str = "text"
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    # Deliveries processed at once, and how many may wait; beyond that the server answers 503.
    workers: int = 8
    queue_size: int = 256
    # Worker processes for analyses (the engine, review diffs, config parsing), and the
    # seconds one delivery's analyses may take in all.
    # Bounds on what unauthenticated requests can make the server hold (body_reader.py):
    # bodies read at once, bytes they hold in all, seconds a body may take to arrive.
    body_reads: int = 32
    buffered_bytes: int = 64 * 1024 * 1024
    body_seconds: float = 10.0
    # Bounds on connections (connections.py): how many may be open, and the seconds a
    # connection has to complete a request's headers.
    max_connections: int = 512
    header_seconds: float = 10.0
    analysis_processes: int = 2
    analysis_seconds: float = 60.0
    # How long SIGTERM waits for accepted deliveries to finish.
    drain_seconds: float = 25.0
    # Delivery ids remembered for a day to answer GitHub's redeliveries as duplicates.
    seen_deliveries: int = DEFAULT_SEEN_DELIVERIES
    # Commits remembered for an hour as already having our check run.
    commit_claims: int = DEFAULT_COMMIT_CLAIMS
    # GitHub GET responses kept for conditional requests (ETags), all installations
    # together, bounded by the estimated size of the decoded responses; 0 keeps none.
    etag_cache_bytes: int = DEFAULT_ETAG_CACHE_BYTES
    # Set: deliveries wait in Redis for ``wheelwatch worker`` processes (bot/app/queue_redis.py);
    # unset: one process queues and processes them in memory. Its password stays out of repr().
    redis_url: str | None = field(default=None, repr=False)
    # How long a worker's claim on a job (and on its subject's turn) lasts unless renewed: a
    # killed worker's job is taken up by another this long after its last renewal.
    lease_seconds: float = DEFAULT_LEASE_SECONDS
    # A delivery that failed for a passing GitHub reason (unreachable, 5xx, rate limited after
    # the client's own retries) is run again after each of these delays in turn, then given
    # up: GitHub does not redeliver a delivery it got a 2xx for.
    rerun_delays: tuple[float, ...] = DEFAULT_RERUN_DELAYS
    # A worker process serves GET /metrics on this port (on ``host``); unset: it serves nothing.
    metrics_port: int | None = None
    # Workflow texts by blob SHA and analyses by their inputs, all installations together,
    # bounded by the estimated size of the entries; 0 keeps none.
    analysis_cache_bytes: int = DEFAULT_ANALYSIS_CACHE_BYTES
    # Refresh the release table daily from actions/python-versions' versions-manifest.json;
    # off where that repository cannot be read (GitHub Enterprise Server without it).
    release_manifest: bool = True
    # The day workflows are judged as of (which Pythons are still pre-releases), as the CLI's
    # --as-of; unset: the day each commit is analysed, in UTC. See today().
    as_of: date | None = None

    def today(self) -> date:
        """The App's one clock for verdicts: ``as_of`` if set, else today (UTC)."""
        return self.as_of or datetime.now(UTC).date()

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> AppConfig:
        """Read the configuration; raises ``ConfigurationError`` naming every bad variable."""
        problems: list[str] = []

        def check(read: Callable[[], T], default: T) -> T:
            # Each setting is read even after a bad one: start-up names all problems at once.
            try:
                return read()
            except ConfigurationError as exc:
                problems.append(str(exc))
                return default

        def integer(name: str, default: int, *, low: int, high: int) -> int:
            return check(lambda: _integer(env, name, default, low=low, high=high), default)

        config = cls(
            app_id=check(lambda: _app_id(env), ""),
            private_key=check(lambda: _private_key(env), ""),
            webhook_secret=check(lambda: _required(env, "GITHUB_WEBHOOK_SECRET"), ""),
            api_url=check(lambda: _url(env.get("GITHUB_API_URL") or DEFAULT_API_URL), ""),
            host=env.get("HOST") or "0.0.0.0",
            port=integer("PORT", 8080, low=1, high=65535),
            log_level=check(lambda: _log_level(env.get("LOG_LEVEL") or "INFO"), "INFO"),
            log_format=check(lambda: _log_format(env.get("WHEELWATCH_LOG_FORMAT", "")), "text"),
            max_body_bytes=integer(
                "WHEELWATCH_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES, low=1024, high=2**31
            ),
            workers=integer("WHEELWATCH_WORKERS", 8, low=1, high=256),
            queue_size=integer("WHEELWATCH_QUEUE_SIZE", 256, low=1, high=100_000),
            body_reads=integer("WHEELWATCH_BODY_READS", 32, low=1, high=10_000),
            buffered_bytes=integer(
                "WHEELWATCH_BUFFERED_BYTES", 64 * 1024 * 1024, low=1024, high=2**34
            ),
            body_seconds=float(integer("WHEELWATCH_BODY_SECONDS", 10, low=1, high=600)),
            max_connections=integer("WHEELWATCH_MAX_CONNECTIONS", 512, low=2, high=1_000_000),
            header_seconds=float(integer("WHEELWATCH_HEADER_SECONDS", 10, low=1, high=600)),
            analysis_processes=integer("WHEELWATCH_ANALYSIS_PROCESSES", 2, low=1, high=64),
            analysis_seconds=float(integer("WHEELWATCH_ANALYSIS_SECONDS", 60, low=1, high=3600)),
            drain_seconds=float(integer("WHEELWATCH_DRAIN_SECONDS", 25, low=0, high=3600)),
            seen_deliveries=integer(
                "WHEELWATCH_SEEN_DELIVERIES", DEFAULT_SEEN_DELIVERIES, low=1, high=10_000_000
            ),
            commit_claims=integer(
                "WHEELWATCH_COMMIT_CLAIMS", DEFAULT_COMMIT_CLAIMS, low=1, high=10_000_000
            ),
            etag_cache_bytes=integer(
                "WHEELWATCH_ETAG_CACHE_BYTES", DEFAULT_ETAG_CACHE_BYTES, low=0, high=2**34
            ),
            redis_url=check(lambda: _redis_url(env.get("WHEELWATCH_REDIS_URL", "").strip()), None),
            lease_seconds=float(
                integer("WHEELWATCH_LEASE_SECONDS", int(DEFAULT_LEASE_SECONDS), low=1, high=600)
            ),
            rerun_delays=check(
                lambda: _rerun_delays(env.get("WHEELWATCH_RERUN_DELAYS")), DEFAULT_RERUN_DELAYS
            ),
            analysis_cache_bytes=_integer(
                env,
                "WHEELWATCH_ANALYSIS_CACHE_BYTES",
                DEFAULT_ANALYSIS_CACHE_BYTES,
                low=0,
                high=2**34,
            ),
            release_manifest=_integer(env, "WHEELWATCH_RELEASE_MANIFEST", 1, low=0, high=1) == 1,
            as_of=check(lambda: _as_of(env.get("WHEELWATCH_AS_OF", "").strip()), None),
        )
        if problems:
            raise ConfigurationError(problems)
        return config


def _app_id(env: Mapping[str, str]) -> str:
    app_id = _required(env, "GITHUB_APP_ID")
    if not app_id.isdigit():
        raise ConfigurationError("GITHUB_APP_ID must be the App's numeric id")
    return app_id


def _rerun_delays(value: str | None) -> tuple[float, ...]:
    if value is None:
        return DEFAULT_RERUN_DELAYS
    value = value.strip()
    if value.lower() in ("", "none"):
        return ()
    try:
        delays = tuple(float(part) for part in value.split(","))
    except ValueError:
        delays = ()
    if not delays or len(delays) > 10 or not all(0 <= delay <= 86_400 for delay in delays):
        raise ConfigurationError(
            "WHEELWATCH_RERUN_DELAYS must be up to 10 comma-separated seconds (0 to 86400), or none"
        )
    return delays


def _log_format(value: str) -> str:
    value = value.strip().lower() or "text"
    if value not in ("text", "json"):
        raise ConfigurationError("WHEELWATCH_LOG_FORMAT must be text or json")
    return value


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigurationError(f"{name} is not set")
    return value


def _private_key(env: Mapping[str, str]) -> str:
    inline = env.get("GITHUB_PRIVATE_KEY", "").strip()
    path = env.get("GITHUB_PRIVATE_KEY_PATH", "").strip()
    if inline and path:
        raise ConfigurationError("set GITHUB_PRIVATE_KEY or GITHUB_PRIVATE_KEY_PATH, not both")
    if inline:
        # Platforms that store one-line variables hold the PEM with literal "\n" escapes.
        key, name = inline.replace("\\n", "\n"), "GITHUB_PRIVATE_KEY"
    elif path:
        try:
            key, name = Path(path).read_text(encoding="ascii"), "GITHUB_PRIVATE_KEY_PATH"
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigurationError(
                f"GITHUB_PRIVATE_KEY_PATH {path!r} cannot be read: {exc.__class__.__name__}"
            ) from None
    else:
        raise ConfigurationError("GITHUB_PRIVATE_KEY (or GITHUB_PRIVATE_KEY_PATH) is not set")
    if "-----BEGIN" not in key or "PRIVATE KEY-----" not in key:
        # Say what is wrong without echoing any of the value.
        raise ConfigurationError(f"{name} does not hold a PEM private key")
    try:
        # Sign a JWT now, as every token request will: a corrupt key fails here, at start,
        # not at the first delivery.
        apps.get_jwt(app_id="0", private_key=key)
    except (ValueError, TypeError, jwt.PyJWTError) as exc:
        raise ConfigurationError(
            f"{name} holds a PEM block that cannot sign the App's JWT ({exc.__class__.__name__})"
        ) from None
    return key


def _url(value: str) -> str:
    if not value.startswith(("https://", "http://")):
        raise ConfigurationError("GITHUB_API_URL must be an http(s) URL")
    return value.rstrip("/")


def _redis_url(value: str) -> str | None:
    if not value:
        return None
    if not value.startswith(REDIS_SCHEMES):
        # The URL may hold a password: name the variable, not the value.
        raise ConfigurationError(
            "WHEELWATCH_REDIS_URL must start with redis://, rediss:// or unix://"
        )
    try:
        tls = tls_options(value)
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from None
    if tls.ca_certs is not None and not Path(tls.ca_certs).is_file():
        # Else the start check fails with an OSError that names neither the option nor the file.
        raise ConfigurationError(
            f"ssl_ca_certs in WHEELWATCH_REDIS_URL names no file: {tls.ca_certs}"
        )
    return value


def _as_of(value: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ConfigurationError(
            f"WHEELWATCH_AS_OF must be a date (YYYY-MM-DD), got {value!r}"
        ) from None


def _integer(env: Mapping[str, str], name: str, default: int, *, low: int, high: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigurationError(f"{name} must be between {low} and {high}, got {value}")
    return value


def _log_level(value: str) -> str:
    level = value.strip().upper()
    if level not in logging.getLevelNamesMapping():
        raise ConfigurationError(f"LOG_LEVEL {value!r} is not a logging level")
    return level

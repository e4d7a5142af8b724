"""Fixtures shared by all tests; the App's come from ``app_fixtures`` when the shared
fixtures (GitHub's webhook payloads and REST schemas, beside the checkout) are present."""

from __future__ import annotations

from pathlib import Path

SHARED_FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"

if SHARED_FIXTURES.is_dir():
    from app_fixtures import app_config, bot, github, make_bot, rsa_keys
    from redis_fixtures import redis_server, redis_url, tls_redis

    __all__ = [
        "app_config",
        "bot",
        "github",
        "make_bot",
        "redis_server",
        "redis_url",
        "rsa_keys",
        "tls_redis",
    ]
else:
    # The App's tests talk to a fake GitHub built from those fixtures: without them, skip.
    collect_ignore_glob = ["test_app_*.py"]

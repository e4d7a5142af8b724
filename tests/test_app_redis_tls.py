"""The Redis mode on a Redis that speaks only TLS with a self-signed certificate (Heroku
Redis): the URL's TLS parameters reach both processes' connections. Against a real
redis-server started with TLS (``redis_fixtures.tls_redis``)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from typing import Any

import pytest
from fake_github import REPO, FakeGitHub, pull_request_payload
from redis_fixtures import TlsRedis
from test_app_redis import Cluster, open_pull
from test_app_redis_workers import worker_env

from bot.app.config import AppConfig
from bot.app.server_redis import connect, create_redis_app, unreachable


async def test_web_and_worker_use_a_self_signed_tls_redis_given_ssl_cert_reqs_none(
    aiohttp_client: Callable[..., Any],
    app_config: AppConfig,
    github: FakeGitHub,
    tls_redis: TlsRedis,
) -> None:
    url = f"{tls_redis.url}?ssl_cert_reqs=none"
    config = AppConfig(**{**app_config.__dict__, "redis_url": url, "lease_seconds": 3.0})
    cluster = Cluster(config, [await aiohttp_client(create_redis_app(config))])
    open_pull(github)

    response = await cluster.deliver("pull_request", pull_request_payload())
    await cluster.work()

    assert response.status == 202
    assert len(github.reviews(REPO, 2)) == 1


async def test_start_check_reaches_a_self_signed_tls_redis_given_ssl_cert_reqs_in_upper_case(
    tls_redis: TlsRedis,
) -> None:
    assert await unreachable(f"{tls_redis.url}?ssl_cert_reqs=NONE") is None


async def test_ssl_ca_certs_makes_the_connection_trust_that_certificate(
    tls_redis: TlsRedis,
) -> None:
    redis = await connect(f"{tls_redis.url}?ssl_ca_certs={tls_redis.certificate}")
    try:
        assert await redis.ping()
    finally:
        await redis.aclose()


@pytest.mark.parametrize("command", ["serve", "worker"])
async def test_untrusted_certificate_stops_the_start_with_one_line_naming_it(
    command: str, github: FakeGitHub, rsa_keys: tuple[str, str], tls_redis: TlsRedis
) -> None:
    env = worker_env(github, rsa_keys, tls_redis.url)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", command, env=env, stderr=asyncio.subprocess.PIPE
    )
    _, stderr = await asyncio.wait_for(process.communicate(), 60)
    lines = stderr.decode().splitlines()

    assert process.returncode == 2
    assert "Traceback" not in stderr.decode()
    [problem] = [line for line in lines if "certificate" in line]
    assert "WHEELWATCH_REDIS_URL" in problem
    assert "self-signed certificate" in problem
    # What to do about it, on the same line.
    assert "ssl_ca_certs" in problem

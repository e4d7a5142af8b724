"""WHEELWATCH_REDIS_URL turned into arq's RedisSettings, the one place both processes read it."""

from __future__ import annotations

import pytest
import redis

from bot.app.redis_settings import redis_settings
from bot.app.server_redis import connect, unreachable


def test_tls_parameters_of_the_url_reach_the_settings() -> None:
    settings = redis_settings(
        "rediss://:pw@redis.example:6380/2"
        "?ssl_cert_reqs=optional&ssl_ca_certs=/etc/ca.pem&ssl_check_hostname=true"
    )

    assert (settings.ssl, settings.ssl_cert_reqs, settings.ssl_ca_certs) == (
        True,
        "optional",
        "/etc/ca.pem",
    )
    assert settings.ssl_check_hostname is True
    assert (settings.host, settings.port, settings.database, settings.password) == (
        "redis.example",
        6380,
        2,
        "pw",
    )


def test_url_without_tls_parameters_keeps_arqs_defaults() -> None:
    settings = redis_settings("rediss://redis.example:6380")

    assert (settings.ssl, settings.ssl_cert_reqs, settings.ssl_ca_certs) == (True, "required", None)


@pytest.mark.parametrize(
    ("value", "handed_on"), [("NONE", "none"), ("Optional", "optional"), ("REQUIRED", "required")]
)
def test_ssl_cert_reqs_in_any_case_reaches_the_settings_in_lower_case(
    value: str, handed_on: str
) -> None:
    settings = redis_settings(f"rediss://redis.example:6380?ssl_cert_reqs={value}")

    assert settings.ssl_cert_reqs == handed_on  # redis-py knows only the lower-case names


def test_percent_encoded_credentials_reach_the_settings_decoded() -> None:
    # A password may hold '@', ':' or '/', which a URL must percent-encode.
    settings = redis_settings("redis://us%40er:p%40ss%3Aw%2Fd@redis.example:6380")

    assert (settings.username, settings.password) == ("us@er", "p@ss:w/d")


async def test_processes_and_the_start_check_log_in_with_percent_encoded_credentials(
    redis_url: str,
) -> None:
    socket_path = redis_url.removeprefix("unix://")
    admin = redis.Redis(unix_socket_path=socket_path)
    admin.acl_setuser("us@er", enabled=True, passwords=["+p@ss:w/d"], keys="*", commands=["+@all"])
    url = f"unix://us%40er:p%40ss%3Aw%2Fd@{socket_path}"
    try:
        problem = await unreachable(url)
        pool = await connect(url)
        answered = await pool.ping()
        await pool.aclose()
    finally:
        admin.acl_deluser("us@er")
        admin.close()

    assert problem is None
    assert answered

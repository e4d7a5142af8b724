"""The server's configuration: read once from the environment, errors name the variable."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from fake_github import app_key_pair

from bot.app.config import AppConfig, ConfigurationError

KEY = app_key_pair()[0]
# PEM-shaped, but what is between the lines is not a key.
CORRUPT_KEY = "-----BEGIN PRIVATE KEY-----\nMIIBhunter2\n-----END PRIVATE KEY-----\n"
ENV = {"GITHUB_APP_ID": "123", "GITHUB_PRIVATE_KEY": KEY, "GITHUB_WEBHOOK_SECRET": "s3cret"}


def test_defaults_fill_what_is_not_set() -> None:
    config = AppConfig.from_env(ENV)

    assert (config.api_url, config.port, config.host, config.log_level) == (
        "https://api.github.com",
        8080,
        "0.0.0.0",
        "INFO",
    )


@pytest.mark.parametrize("name", ["GITHUB_APP_ID", "GITHUB_WEBHOOK_SECRET", "GITHUB_PRIVATE_KEY"])
def test_missing_variable_is_named(name: str) -> None:
    env = {key: value for key, value in ENV.items() if key != name}

    with pytest.raises(ConfigurationError, match=name):
        AppConfig.from_env(env)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PORT", "http"),
        ("PORT", "70000"),
        ("GITHUB_APP_ID", "my-app"),
        ("LOG_LEVEL", "LOUD"),
        ("WHEELWATCH_AS_OF", "yesterday"),
        ("WHEELWATCH_RERUN_DELAYS", "soon"),
        ("WHEELWATCH_RERUN_DELAYS", "30,-1"),
        ("WHEELWATCH_RERUN_DELAYS", "nan"),
    ],
)
def test_malformed_variable_is_named(name: str, value: str) -> None:
    with pytest.raises(ConfigurationError, match=name):
        AppConfig.from_env({**ENV, name: value})


def test_private_key_with_escaped_newlines_is_unescaped() -> None:
    config = AppConfig.from_env({**ENV, "GITHUB_PRIVATE_KEY": KEY.replace("\n", "\\n")})

    assert config.private_key == KEY


def test_private_key_can_come_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "app.pem"
    path.write_text(KEY)
    env = {key: value for key, value in ENV.items() if key != "GITHUB_PRIVATE_KEY"}

    config = AppConfig.from_env({**env, "GITHUB_PRIVATE_KEY_PATH": str(path)})

    assert config.private_key == KEY


def test_private_key_that_is_not_pem_is_refused_without_echoing_it() -> None:
    with pytest.raises(ConfigurationError) as caught:
        AppConfig.from_env({**ENV, "GITHUB_PRIVATE_KEY": "hunter2"})

    assert "GITHUB_PRIVATE_KEY" in str(caught.value) and "hunter2" not in str(caught.value)


def test_private_key_that_cannot_sign_is_refused_at_start_without_echoing_it() -> None:
    with pytest.raises(ConfigurationError) as caught:
        AppConfig.from_env({**ENV, "GITHUB_PRIVATE_KEY": CORRUPT_KEY})

    assert "GITHUB_PRIVATE_KEY" in str(caught.value) and "hunter2" not in str(caught.value)


def test_repr_leaves_out_the_key_and_the_secret() -> None:
    text = repr(AppConfig.from_env(ENV))

    assert "s3cret" not in text and KEY.splitlines()[1] not in text


def test_enterprise_api_url_is_kept_without_trailing_slash() -> None:
    config = AppConfig.from_env({**ENV, "GITHUB_API_URL": "https://ghe.example.com/api/v3/"})

    assert config.api_url == "https://ghe.example.com/api/v3"


def test_the_day_verdicts_are_judged_as_of_can_be_fixed() -> None:
    assert AppConfig.from_env(ENV).as_of is None  # each commit's day
    config = AppConfig.from_env({**ENV, "WHEELWATCH_AS_OF": "2022-01-26"})

    assert config.today() == date(2022, 1, 26)


def test_cache_bounds_are_configurable() -> None:
    default = AppConfig.from_env(ENV)
    assert (default.seen_deliveries, default.commit_claims, default.etag_cache_bytes) == (
        50_000,
        10_000,
        8 * 1024 * 1024,
    )
    config = AppConfig.from_env(
        {
            **ENV,
            "WHEELWATCH_SEEN_DELIVERIES": "500",
            "WHEELWATCH_COMMIT_CLAIMS": "300",
            "WHEELWATCH_ETAG_CACHE_BYTES": "0",
        }
    )
    assert (config.seen_deliveries, config.commit_claims, config.etag_cache_bytes) == (500, 300, 0)
    with pytest.raises(ConfigurationError, match="WHEELWATCH_SEEN_DELIVERIES"):
        AppConfig.from_env({**ENV, "WHEELWATCH_SEEN_DELIVERIES": "0"})


def test_connection_bounds_default_to_512_connections_and_10_seconds_for_headers() -> None:
    default = AppConfig.from_env(ENV)
    config = AppConfig.from_env(
        {**ENV, "WHEELWATCH_MAX_CONNECTIONS": "64", "WHEELWATCH_HEADER_SECONDS": "3"}
    )

    assert (default.max_connections, default.header_seconds) == (512, 10.0)
    assert (config.max_connections, config.header_seconds) == (64, 3.0)


@pytest.mark.parametrize(
    ("name", "value"), [("WHEELWATCH_MAX_CONNECTIONS", "1"), ("WHEELWATCH_HEADER_SECONDS", "0")]
)
def test_connection_bounds_out_of_range_are_named(name: str, value: str) -> None:
    with pytest.raises(ConfigurationError, match=name):
        AppConfig.from_env({**ENV, name: value})


def test_every_problem_is_named_at_once() -> None:
    env = {key: value for key, value in ENV.items() if key != "GITHUB_WEBHOOK_SECRET"}

    with pytest.raises(ConfigurationError) as caught:
        AppConfig.from_env({**env, "PORT": "http", "WHEELWATCH_WORKERS": "0"})

    message = str(caught.value)
    for name in ("GITHUB_WEBHOOK_SECRET", "PORT", "WHEELWATCH_WORKERS"):
        assert name in message
    assert len(caught.value.problems) == 3


def test_missing_key_file_is_named_by_its_path(tmp_path: Path) -> None:
    env = {key: value for key, value in ENV.items() if key != "GITHUB_PRIVATE_KEY"}
    missing = tmp_path / "nowhere" / "app.pem"

    with pytest.raises(ConfigurationError, match=str(missing)):
        AppConfig.from_env({**env, "GITHUB_PRIVATE_KEY_PATH": str(missing)})


def test_log_format_is_text_or_json() -> None:
    assert AppConfig.from_env({**ENV, "WHEELWATCH_LOG_FORMAT": "json"}).log_format == "json"
    with pytest.raises(ConfigurationError, match="WHEELWATCH_LOG_FORMAT"):
        AppConfig.from_env({**ENV, "WHEELWATCH_LOG_FORMAT": "xml"})


def test_redis_url_must_name_a_redis_scheme_without_echoing_it() -> None:
    with pytest.raises(ConfigurationError) as caught:
        AppConfig.from_env({**ENV, "WHEELWATCH_REDIS_URL": "http://user:hunter2@host"})

    assert "WHEELWATCH_REDIS_URL" in str(caught.value)
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize(
    ("value", "delays"),
    [(None, (30.0, 120.0, 600.0)), ("5, 60", (5.0, 60.0)), ("none", ())],
)
def test_the_delays_before_running_a_delivery_again_can_be_set(
    value: str | None, delays: tuple[float, ...]
) -> None:
    env = ENV if value is None else {**ENV, "WHEELWATCH_RERUN_DELAYS": value}

    assert AppConfig.from_env(env).rerun_delays == delays


@pytest.mark.parametrize(
    "query",
    ["ssl_cert_reqs=no", "ssl_cert_reqs=NO", "ssl_cert_reqs=", "ssl_check_hostname=perhaps"],
)
def test_redis_url_tls_parameter_with_an_unknown_value_is_refused_naming_it(query: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        AppConfig.from_env(
            {**ENV, "WHEELWATCH_REDIS_URL": f"rediss://:hunter2@redis.example:6380?{query}"}
        )

    assert query.partition("=")[0] in str(caught.value)
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize("value", ["none", "optional", "required", "NONE", "Optional"])
def test_redis_url_accepts_each_ssl_cert_reqs_redis_py_knows_in_any_case(value: str) -> None:
    url = f"rediss://redis.example:6380?ssl_cert_reqs={value}"

    assert AppConfig.from_env({**ENV, "WHEELWATCH_REDIS_URL": url}).redis_url == url


def test_redis_url_ssl_ca_certs_naming_no_file_is_refused_naming_it(tmp_path: Path) -> None:
    url = f"rediss://:hunter2@redis.example:6380?ssl_ca_certs={tmp_path}/missing.pem"

    with pytest.raises(ConfigurationError) as caught:
        AppConfig.from_env({**ENV, "WHEELWATCH_REDIS_URL": url})

    assert "ssl_ca_certs" in str(caught.value)
    assert "missing.pem" in str(caught.value)
    assert "hunter2" not in str(caught.value)


def start(command: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """``wheelwatch <command>`` in ``cwd`` with only ``env`` set; it stops at its checks."""
    return subprocess.run(
        [sys.executable, "-m", "bot", command],
        cwd=cwd,
        env={"PATH": os.environ.get("PATH", ""), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_worker_names_a_missing_redis_url_with_every_other_problem(tmp_path: Path) -> None:
    started = start("worker", tmp_path, GITHUB_APP_ID="123")

    assert started.returncode == 2
    for name in ("GITHUB_PRIVATE_KEY", "GITHUB_WEBHOOK_SECRET", "WHEELWATCH_REDIS_URL"):
        assert name in started.stderr, started.stderr


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_env_file_that_is_not_utf8_stops_the_start_naming_it(command: str, tmp_path: Path) -> None:
    (tmp_path / ".env").write_bytes(b"GITHUB_APP_ID=123\nGITHUB_WEBHOOK_SECRET=\xff\n")

    started = start(command, tmp_path)

    assert started.returncode == 2
    assert "Traceback" not in started.stderr
    assert ".env" in started.stderr, started.stderr

"""``wheelwatch register``: GitHub's manifest flow against the fake GitHub, ending in a .env
that the server's configuration reads."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from fake_github import APP_ID, SECRET, FakeGitHub

from bot.app.config import AppConfig
from bot.app.env_file import environment_with, read_env_file, write_env_file
from bot.app.register import Registration, load_manifest, registration_app

MANIFEST = Path(__file__).resolve().parents[1] / "app.yml"


async def start(
    aiohttp_client: Callable[..., Any], github: FakeGitHub, tmp_path: Path
) -> tuple[Registration, TestClient]:
    registration = Registration(
        manifest=load_manifest(MANIFEST),
        redirect_url="http://127.0.0.1:3000/callback",
        env_path=tmp_path / ".env",
        github_url="https://github.example",
        api_url=github.url,  # type: ignore[attr-defined]
    )
    return registration, await aiohttp_client(registration_app(registration))


async def test_page_posts_app_yml_as_the_manifest_with_the_redirect_back(
    aiohttp_client: Callable[..., Any], github: FakeGitHub, tmp_path: Path
) -> None:
    registration, client = await start(aiohttp_client, github, tmp_path)

    page = await (await client.get("/")).text()

    action = re.search(r"action='([^']+)'", page)
    assert action is not None
    assert action.group(1) == f"https://github.example/settings/apps/new?state={registration.state}"
    value = re.search(r"name='manifest' value='([^']+)'", page)
    assert value is not None
    manifest = json.loads(value.group(1).replace("&quot;", '"').replace("&#x27;", "'"))
    assert manifest["redirect_url"] == "http://127.0.0.1:3000/callback"
    assert manifest["default_permissions"] == load_manifest(MANIFEST)["default_permissions"]


async def test_callback_exchanges_the_code_and_writes_a_private_env_that_serve_reads(
    aiohttp_client: Callable[..., Any],
    github: FakeGitHub,
    tmp_path: Path,
    rsa_keys: tuple[str, str],
) -> None:
    github.private_key = rsa_keys[0]
    github.manifest_codes["code-1"] = {"name": "wheelwatch"}
    registration, client = await start(aiohttp_client, github, tmp_path)

    response = await client.get(f"/callback?code=code-1&state={registration.state}")

    assert response.status == 200
    assert registration.done.is_set()
    env_file = tmp_path / ".env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    config = AppConfig.from_env(environment_with(env_file, {}))
    assert (config.app_id, config.webhook_secret) == (APP_ID, SECRET)
    assert config.private_key.strip() == rsa_keys[0].strip()


async def test_callback_with_another_state_exchanges_nothing(
    aiohttp_client: Callable[..., Any], github: FakeGitHub, tmp_path: Path
) -> None:
    github.manifest_codes["code-1"] = {"name": "wheelwatch"}
    _, client = await start(aiohttp_client, github, tmp_path)

    response = await client.get("/callback?code=code-1&state=forged")

    assert response.status == 400
    assert github.calls == []
    assert not (tmp_path / ".env").exists()


async def test_code_github_refuses_is_reported_and_writes_nothing(
    aiohttp_client: Callable[..., Any], github: FakeGitHub, tmp_path: Path
) -> None:
    registration, client = await start(aiohttp_client, github, tmp_path)

    response = await client.get(f"/callback?code=expired&state={registration.state}")

    assert response.status == 502
    assert not registration.done.is_set()
    assert not (tmp_path / ".env").exists()


def test_environment_wins_over_the_env_file(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text('# comment\nGITHUB_APP_ID=1\nGITHUB_WEBHOOK_SECRET="from file"\n')

    merged = environment_with(env_file, {"GITHUB_APP_ID": "2"})

    assert read_env_file(env_file)["GITHUB_WEBHOOK_SECRET"] == "from file"
    assert (merged["GITHUB_APP_ID"], merged["GITHUB_WEBHOOK_SECRET"]) == ("2", "from file")


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_serve_and_worker_read_the_env_file_in_their_working_directory(
    command: str, tmp_path: Path, rsa_keys: tuple[str, str]
) -> None:
    # All of their settings from .env, as register writes it (the key on one line); Redis
    # is not there, which both check once the settings are read.
    write_env_file(
        tmp_path / ".env",
        {
            "GITHUB_APP_ID": APP_ID,
            "GITHUB_PRIVATE_KEY": rsa_keys[0].replace("\n", "\\n"),
            "GITHUB_WEBHOOK_SECRET": SECRET,
            "WHEELWATCH_REDIS_URL": f"unix://{tmp_path}/no-redis.sock",
        },
    )

    started = subprocess.run(
        [sys.executable, "-m", "bot", command],
        cwd=tmp_path,
        env={"PATH": os.environ.get("PATH", "")},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert started.returncode == 2
    assert "WHEELWATCH_REDIS_URL cannot be reached" in started.stderr, started.stderr
    assert "is not set" not in started.stderr


async def test_callback_keeps_the_other_settings_of_an_existing_env_file(
    aiohttp_client: Callable[..., Any],
    github: FakeGitHub,
    tmp_path: Path,
    rsa_keys: tuple[str, str],
) -> None:
    # A re-registration, or a .env that already holds the deployment's own settings: only
    # the App's id, key and secret change (a key file named before gives way to the new key).
    env_file = tmp_path / ".env"
    env_file.write_text(
        "# production\nWHEELWATCH_LOG_FORMAT=json\nGITHUB_APP_ID=1\n"
        "GITHUB_PRIVATE_KEY_PATH=/etc/old.pem\nWHEELWATCH_WORKERS=4\n"
    )
    github.private_key = rsa_keys[0]
    github.manifest_codes["code-1"] = {"name": "wheelwatch"}
    registration, client = await start(aiohttp_client, github, tmp_path)

    response = await client.get(f"/callback?code=code-1&state={registration.state}")

    assert response.status == 200
    assert env_file.read_text().startswith("# production\nWHEELWATCH_LOG_FORMAT=json\n")
    config = AppConfig.from_env(environment_with(env_file, {}))
    assert (config.app_id, config.log_format, config.workers) == (APP_ID, "json", 4)
    assert config.private_key.strip() == rsa_keys[0].strip()


def test_env_file_that_cannot_be_written_stops_register_before_github_is_asked(
    tmp_path: Path,
) -> None:
    # Found only after GitHub's code is exchanged, the App's key (given once) would be lost.
    unwritable = tmp_path / "missing-directory" / ".env"

    options = ["--manifest", str(MANIFEST), "--env-file", str(unwritable), "--port", "0"]

    started = subprocess.run(
        [sys.executable, "-m", "bot", "register", *options],
        env={"PATH": os.environ.get("PATH", "")},
        capture_output=True,
        text=True,
        timeout=10,  # today it serves the page and waits for GitHub
    )

    assert started.returncode == 2
    assert str(unwritable) in started.stderr
    assert "Open http" not in started.stdout  # no page served


def test_env_file_value_in_single_quotes_is_read_without_them(tmp_path: Path) -> None:
    # As docker compose and the shell read it: the quotes are not part of the secret.
    env_file = tmp_path / ".env"
    env_file.write_text("GITHUB_WEBHOOK_SECRET='s3cret'\n")

    assert read_env_file(env_file)["GITHUB_WEBHOOK_SECRET"] == "s3cret"

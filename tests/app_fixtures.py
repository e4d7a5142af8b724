"""The App's test fixtures: the fake GitHub, a configured server, signed deliveries."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from fake_github import APP_ID, SECRET, FakeGitHub, app_key_pair
from support import TODAY

from bot.app.config import AppConfig
from bot.app.github import GitHubApp, RetryPolicy
from bot.app.metrics import Metrics
from bot.app.replay import webhook_headers
from bot.app.server import SERVICE, create_app

# The client timeout of the tests that inject stalls (``FakeGitHub.stall``, ``lose(...,
# "stall")``): each stalled call costs it in wall time. Every other test keeps the App's own
# (``RetryPolicy.timeout``, 30 s), far beyond a loopback answer on a loaded machine, so a
# slow answer cannot add a retry to the calls a test counts (0.5 s was the default: a real
# call took over 0.3 s at load average 8, tests/test_app_faults.py). 2 s leaves the few
# other calls of a stall test that margin several times over, for 2 s per stall.
STALL_TIMEOUT = 2.0


@pytest.fixture(scope="session")
def rsa_keys() -> tuple[str, str]:
    return app_key_pair()


@pytest.fixture
async def github(
    aiohttp_server: Callable[..., Any], rsa_keys: tuple[str, str]
) -> AsyncIterator[FakeGitHub]:
    fake = FakeGitHub(app_id=APP_ID, public_key=rsa_keys[1])
    server = await aiohttp_server(fake.app)
    fake.url = str(server.make_url("")).rstrip("/")  # type: ignore[attr-defined]
    yield fake
    assert fake.errors == [], "requests GitHub would refuse"


@pytest.fixture
def app_config(github: FakeGitHub, rsa_keys: tuple[str, str]) -> AppConfig:
    return AppConfig(
        app_id=APP_ID,
        private_key=rsa_keys[0],
        webhook_secret=SECRET,
        api_url=github.url,  # type: ignore[attr-defined]
        workers=2,
        queue_size=8,
        drain_seconds=10,
        max_body_bytes=256 * 1024,
        # One more call on the first delivery; tests/test_app_release_table.py turns it on.
        release_manifest=False,
        # The day the tests are written for (3.15 final, 3.16 in alpha): without it, their
        # verdicts would change once 3.16.0 is out.
        as_of=TODAY,
        # A delivery GitHub failed is given up at once; tests of re-runs set their delays.
        rerun_delays=(),
    )


@dataclass
class Bot:
    """The App under test, its test client, and what it asked to wait for."""

    client: TestClient
    app: web.Application
    waits: list[float] = field(default_factory=list)
    deliveries: int = 0

    async def deliver(
        self,
        event: str,
        payload: dict[str, Any] | bytes,
        *,
        delivery_id: str | None = None,
        secret: str | None = SECRET,
        headers: dict[str, str] | None = None,
    ) -> aiohttp.ClientResponse:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.deliveries += 1
        all_headers = webhook_headers(
            body,
            event=event,
            secret=secret,
            delivery_id=delivery_id or f"delivery-{self.deliveries}",
        )
        all_headers.update(headers or {})
        return await self.client.post("/webhook", data=body, headers=all_headers)

    async def settle(self) -> None:
        """Wait until every accepted delivery has been processed (run again too)."""
        service = self.app[SERVICE]
        await service.queue.join()
        while service.reruns:
            await asyncio.gather(*(task for _job, task in service.reruns.values()))
            await service.queue.join()


@pytest.fixture
def make_bot(aiohttp_client: Callable[..., Any], app_config: AppConfig) -> Callable[..., Any]:
    async def make(*, client_timeout: float = RetryPolicy.timeout, **config_changes: Any) -> Bot:
        """The App on a fake GitHub; its retry waits are recorded, never slept."""
        waits: list[float] = []

        async def sleep(seconds: float) -> None:
            waits.append(seconds)  # recorded, never slept

        def factory(
            session: aiohttp.ClientSession, config: AppConfig, metrics: Metrics
        ) -> GitHubApp:
            return GitHubApp(
                session,
                app_id=config.app_id,
                private_key=config.private_key,
                api_url=config.api_url,
                metrics=metrics,
                sleep=sleep,
                policy=RetryPolicy(timeout=client_timeout),
            )

        config = AppConfig(**{**app_config.__dict__, **config_changes})
        app = create_app(config, github_factory=factory)
        client = await aiohttp_client(app)
        return Bot(client, app, waits)

    return make


@pytest.fixture
async def bot(make_bot: Callable[..., Any]) -> Bot:
    made: Bot = await make_bot()
    return made

"""``wheelwatch register``: create the GitHub App from ``app.yml`` with GitHub's manifest flow.

As Probot does: a local page posts the manifest to GitHub (``/settings/apps/new``, or an
organisation's), the person confirms there, GitHub redirects back to this server with a
one-time code, and ``POST /app-manifests/{code}/conversions`` exchanges it for the App's id,
private key and webhook secret, which go to ``.env`` for ``serve`` and ``worker``.
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from ruamel.yaml import YAML

from bot.app.env_file import write_env_file

log = logging.getLogger(__name__)

CONVERSION_URL = "{api_url}/app-manifests/{code}/conversions"


def load_manifest(path: Path) -> dict[str, Any]:
    data = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or "name" not in data:
        raise ValueError(f"{path} is not a GitHub App manifest (no name)")
    return data


@dataclass
class Registration:
    """One run of the flow: the page, the callback, the exchange, the ``.env`` it writes."""

    manifest: dict[str, Any]
    redirect_url: str
    env_path: Path
    github_url: str = "https://github.com"
    api_url: str = "https://api.github.com"
    organization: str | None = None
    state: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    done: asyncio.Event = field(default_factory=asyncio.Event)
    app: dict[str, Any] = field(default_factory=dict)

    def form_action(self) -> str:
        owner = f"/organizations/{self.organization}" if self.organization else ""
        return f"{self.github_url}{owner}/settings/apps/new?state={self.state}"

    def page(self) -> str:
        manifest = json.dumps({**self.manifest, "redirect_url": self.redirect_url})
        return (
            "<!doctype html><html><head><title>Register the wheelwatch App</title></head><body>"
            f"<form method='post' action='{html.escape(self.form_action())}'>"
            f"<input type='hidden' name='manifest' value='{html.escape(manifest)}'>"
            f"<p>Create the GitHub App <b>{html.escape(str(self.manifest['name']))}</b> "
            "from app.yml:</p><button type='submit'>Register on GitHub</button></form>"
            "</body></html>"
        )

    async def exchange(self, session: aiohttp.ClientSession, code: str) -> dict[str, Any]:
        url = CONVERSION_URL.format(api_url=self.api_url, code=code)
        headers = {"Accept": "application/vnd.github+json", "User-Agent": "wheelwatch"}
        async with session.post(url, headers=headers) as response:
            if response.status != 201:
                raise RuntimeError(f"GitHub refused the code: {response.status}")
            data: dict[str, Any] = await response.json()
        write_env_file(
            self.env_path,
            {
                "GITHUB_APP_ID": str(data["id"]),
                "GITHUB_PRIVATE_KEY": str(data["pem"]).strip().replace("\n", "\\n"),
                "GITHUB_WEBHOOK_SECRET": str(data["webhook_secret"]),
            },
            # Set with GITHUB_PRIVATE_KEY, it would stop the start: the new key replaces it.
            drop=("GITHUB_PRIVATE_KEY_PATH",),
        )
        return data


def registration_app(registration: Registration) -> web.Application:
    app = web.Application()

    async def session_ctx(app: web.Application) -> Any:
        async with aiohttp.ClientSession() as session:
            app[SESSION] = session
            yield

    async def page(_request: web.Request) -> web.Response:
        return web.Response(text=registration.page(), content_type="text/html")

    async def callback(request: web.Request) -> web.Response:
        code = request.query.get("code", "")
        if not code or not secrets.compare_digest(
            request.query.get("state", ""), registration.state
        ):
            # Not the redirect of the page this run served: exchange nothing.
            return web.Response(status=400, text="unexpected callback")
        try:
            data = await registration.exchange(request.app[SESSION], code)
        except (aiohttp.ClientError, RuntimeError, KeyError) as exc:
            log.error("the manifest code could not be exchanged: %s", exc)
            return web.Response(status=502, text=f"registration failed: {exc}")
        registration.app = data
        registration.done.set()
        html_url = html.escape(str(data.get("html_url", "")))
        return web.Response(
            text=f"<p>Registered <b>{html.escape(str(data.get('name', '')))}</b>; its settings "
            f"are in {html.escape(str(registration.env_path))}. Now install it: "
            f"<a href='{html_url}/installations/new'>{html_url}/installations/new</a></p>",
            content_type="text/html",
        )

    app.cleanup_ctx.append(session_ctx)
    app.router.add_get("/", page)
    app.router.add_get("/callback", callback)
    return app


SESSION = web.AppKey("wheelwatch_register_session", aiohttp.ClientSession)


async def run_registration(
    registration: Registration, *, host: str, port: int, announce: Callable[[str], Awaitable[None]]
) -> dict[str, Any]:
    """Serve the page until GitHub's redirect has been exchanged; the App GitHub created."""
    runner = web.AppRunner(registration_app(registration), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    try:
        await announce(f"http://{host}:{port}/")
        await registration.done.wait()
    finally:
        await runner.cleanup()
    return registration.app

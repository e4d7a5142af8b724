"""Local development: sign a saved webhook payload and post it to a running server.

What Probot's ``receive`` does, our way: ``wheelwatch replay payload.json --event push``.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid

import aiohttp


def signature(body: bytes, secret: str) -> str:
    """The ``X-Hub-Signature-256`` value GitHub would send for this body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def webhook_headers(
    body: bytes, *, event: str, secret: str | None, delivery_id: str | None = None
) -> dict[str, str]:
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery_id or str(uuid.uuid4()),
        "User-Agent": "GitHub-Hookshot/wheelwatch-replay",
    }
    if secret is not None:
        headers["X-Hub-Signature-256"] = signature(body, secret)
    return headers


async def replay(
    url: str, body: bytes, *, event: str, secret: str, delivery_id: str | None = None
) -> tuple[int, str]:
    """Post one signed delivery; returns the server's status and response text."""
    headers = webhook_headers(body, event=event, secret=secret, delivery_id=delivery_id)
    timeout = aiohttp.ClientTimeout(total=30)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.post(url, data=body, headers=headers) as response,
    ):
        return response.status, await response.text()

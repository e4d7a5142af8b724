"""The webhook routes' answers: one small JSON object, ``{"status": ...}`` or ``{"error": ...}``.

Their bodies come from a handful of fixed texts, so each is encoded once: ``json_response``
encoded the same dictionary again on every acknowledgement.
"""

from __future__ import annotations

import functools

import orjson
from aiohttp import web


@functools.lru_cache(maxsize=64)
def _body(key: str, text: str) -> bytes:
    return orjson.dumps({key: text})


def answer(status: int, text: str) -> web.Response:
    """``{"error": text}`` for a 4xx or 5xx ``status``, else ``{"status": text}``."""
    key = "error" if status >= 400 else "status"
    return web.Response(body=_body(key, text), status=status, content_type="application/json")

"""Reading webhook bodies under bounds that hold whatever an unauthenticated caller sends.

Anyone who can reach the URL can post, and the signature can only be checked once the body
is in: 40 concurrent unsigned 24 MiB posts took the server from 66 MiB to 1.2 GiB, and a body
sent a byte every 5 s held its connection past 100 s. So, before and while reading:

* a missing or malformed ``X-Hub-Signature-256`` is refused (401) before any byte is read;
* at most ``max_reads`` bodies are read at once, and at most ``max_buffered`` bytes are held
  by all of them (a declared ``Content-Length`` is reserved up front, a chunked body as it
  comes); beyond either, 503 at once (GitHub redelivers);
* a body not received within ``read_seconds`` is refused with 408;
* the HMAC is computed chunk by chunk as the body arrives, so verifying costs no second pass.

A body that has arrived whole by the time the handler runs (a delivery on loopback or in one
TCP window, the common case) is taken from aiohttp's buffer at once: no chunk loop and no
timer, which showed as ~6 % of the web process's samples under wrk (py-spy).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re

from aiohttp import web

from bot.app.config import AppConfig

_SIGNATURE = re.compile(r"sha256=[0-9a-f]{64}")
CHUNK_BYTES = 64 * 1024


class BodyRefused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class BodyReader:
    def __init__(
        self,
        secret: bytes,
        *,
        max_body: int,
        max_reads: int,
        max_buffered: int,
        read_seconds: float,
    ) -> None:
        self._secret = secret
        self.max_body = max_body
        self.max_reads = max_reads
        self.max_buffered = max_buffered
        self.read_seconds = read_seconds
        # Bodies being read now, and the bytes reserved for them.
        self.reads = 0
        self.buffered = 0

    @classmethod
    def configured(cls, config: AppConfig) -> BodyReader:
        """The bounds and secret of ``config``, as both kinds of web process use them."""
        return cls(
            config.webhook_secret.encode(),
            max_body=config.max_body_bytes,
            max_reads=config.body_reads,
            max_buffered=config.buffered_bytes,
            read_seconds=config.body_seconds,
        )

    async def read_signed(self, request: web.Request) -> bytes:
        """The body, once its signature is verified; raises ``BodyRefused``."""
        signature = request.headers.get("X-Hub-Signature-256", "")
        if not _SIGNATURE.fullmatch(signature):
            raise BodyRefused(401, "invalid signature")
        declared = request.content_length
        if declared is not None and declared > self.max_body:
            raise BodyRefused(413, "body too large")
        if declared is not None and request.content.is_eof():
            # Already in memory, within the declared length: nothing left to bound or time.
            return self._verified(signature, request.content.read_nowait())
        reserved = declared or 0
        if self.reads >= self.max_reads or self.buffered + reserved > self.max_buffered:
            raise BodyRefused(503, "busy, redeliver later")
        self.reads += 1
        self.buffered += reserved
        mac = hmac.new(self._secret, digestmod=hashlib.sha256)
        chunks: list[bytes] = []
        received = 0
        try:
            async with asyncio.timeout(self.read_seconds):
                async for chunk in request.content.iter_chunked(CHUNK_BYTES):
                    received += len(chunk)
                    if received > self.max_body:
                        raise BodyRefused(413, "body too large")
                    if received > reserved:  # a chunked body: reserve as it comes
                        if self.buffered + received - reserved > self.max_buffered:
                            raise BodyRefused(503, "busy, redeliver later")
                        self.buffered += received - reserved
                        reserved = received
                    mac.update(chunk)
                    chunks.append(chunk)
        except TimeoutError:
            raise BodyRefused(408, "body not received in time") from None
        finally:
            self.reads -= 1
            self.buffered -= reserved
        return self._checked(signature, mac, b"".join(chunks))

    def _verified(self, signature: str, body: bytes) -> bytes:
        return self._checked(signature, hmac.new(self._secret, body, hashlib.sha256), body)

    @staticmethod
    def _checked(signature: str, mac: hmac.HMAC, body: bytes) -> bytes:
        expected = "sha256=" + mac.hexdigest()
        if not hmac.compare_digest(signature.encode(), expected.encode()):
            raise BodyRefused(401, "invalid signature")
        return body

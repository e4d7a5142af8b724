"""The webhook server when deliveries wait in Redis: verify, de-duplicate, enqueue, answer.

``wheelwatch serve`` with ``WHEELWATCH_REDIS_URL`` set runs this application instead of the
embedded one (``bot.app.server``). It checks the signature and the headers, reads from the
body (``bot.app.decoding.decode_routing``: only the fields that decide) what the embedded
server refuses (400), ignores (200) and the delivery's subject, and
:class:`~bot.app.queue_redis.RedisIntake` records the delivery id and enqueues the raw
body in one round trip, in the place of its subject's delivery still waiting if there is one.
``wheelwatch worker`` processes decode it again and process it. Any number of these
processes can run behind one router: a redelivery that reaches another process is still a
duplicate.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import replace

from aiohttp import web
from arq.connections import ArqRedis, create_pool
from redis.exceptions import RedisError

from bot.app import job_payload
from bot.app.answers import answer
from bot.app.body_reader import BodyReader, BodyRefused
from bot.app.config import AppConfig
from bot.app.decoding import Refused, decode_routing
from bot.app.log_format import about
from bot.app.metrics import CONTENT_TYPE, Metrics
from bot.app.processing import KNOWN_EVENTS, ROUTER, event_label, well_formed
from bot.app.queue_redis import RedisIntake
from bot.app.redis_settings import redis_settings
from bot.app.server import (
    MAX_HEADER_CHARS,
    METRICS,
    log_refused_signature,
    subject_of,
    valid_delivery_id,
)

log = logging.getLogger(__name__)

MEDIA_TYPES = frozenset({"application/json", "application/x-www-form-urlencoded"})


async def connect(url: str) -> ArqRedis:
    """A connection pool to Redis; raises if it cannot be reached (arq retries a few times)."""
    return await create_pool(
        redis_settings(url),
        job_serializer=job_payload.dumps,
        job_deserializer=job_payload.loads,
    )


async def unreachable(url: str) -> str | None:
    """Why Redis at ``url`` cannot be used now (a start-up check), or None.

    It connects with the settings the processes will use (``redis_settings``), in one try:
    read by redis-py from the URL itself, the options could differ (redis-py refuses
    ``ssl_cert_reqs=NONE``, which those settings hand on in lower case)."""
    settings = replace(redis_settings(url), conn_timeout=5, conn_retries=0)
    try:
        client = await create_pool(settings)
    except (RedisError, OSError, TimeoutError) as exc:
        return f"{exc.__class__.__name__}: {exc}"  # redis-py's messages name no password
    await client.aclose()
    return None


class RedisWebhook:
    """The web process's whole job: what it refuses, and what it hands to Redis."""

    def __init__(self, config: AppConfig, metrics: Metrics) -> None:
        self.config = config
        self.metrics = metrics
        self.intake: RedisIntake | None = None
        self.accepting = True
        self.bodies = BodyReader.configured(config)

    def _answer(self, status: int, reason: str, event: str, outcome: str) -> web.Response:
        self.metrics.delivery(event, outcome)
        return answer(status, reason)

    async def handle_webhook(self, request: web.Request) -> web.Response:
        if not self.accepting or self.intake is None:
            return self._answer(503, "shutting down", "unknown", "refused_503")
        if (request.content_length or 0) > self.config.max_body_bytes:
            return self._answer(413, "body too large", "unknown", "refused_413")
        headers = request.headers
        try:
            # Bounded, timed, and verified as it is read (see body_reader).
            body = await self.bodies.read_signed(request)
        except BodyRefused as refused:
            # Never say more to an unsigned caller, and do no work for it.
            if refused.status == 401:
                log_refused_signature(headers)
            status = refused.status
            response = self._answer(status, refused.reason, "unknown", f"refused_{status}")
            if status != 401:
                response.force_close()  # the rest of the body is not read
            return response
        event = headers.get("X-GitHub-Event", "")
        delivery_id = headers.get("X-GitHub-Delivery", "")
        media_type = headers.get("Content-Type", "").partition(";")[0].strip().lower()
        name = event_label(event)
        if (
            not event
            or not valid_delivery_id(delivery_id)
            or len(event) > MAX_HEADER_CHARS
            or media_type not in MEDIA_TYPES
        ):
            return self._answer(400, "malformed delivery", name, "refused_400")
        if event not in KNOWN_EVENTS:
            return self._answer(200, "ignored", name, "ignored")
        # Read here, as the embedded server does, for the delivery's subject: a later
        # delivery about a pull request or a commit replaces the one still waiting in the
        # queue, which only a read of each body on arrival can tell. Only the fields that
        # decide it are read (bot.app.decoding); the worker decodes the whole body.
        try:
            parsed = decode_routing(headers, body)
        except Refused as refused:
            return self._answer(refused.status, refused.reason, name, f"refused_{refused.status}")
        if not well_formed(parsed):
            return self._answer(400, "malformed delivery", name, "refused_400")
        if not ROUTER.fetch(parsed):
            return self._answer(200, "ignored", name, "ignored")
        subject = subject_of(parsed)
        try:
            accepted = await self.intake.accept(
                event=event,
                delivery_id=delivery_id,
                content_type=media_type,
                body=body,
                subject=subject,
            )
        except (RedisError, OSError) as exc:
            log.error(
                "delivery %s: Redis unavailable (%r); answered 503",
                delivery_id,
                exc,
                extra=about(delivery_id),
            )
            return self._answer(503, "busy, redeliver later", name, "refused_503")
        if accepted.arrival == 0:
            return self._answer(200, "duplicate", name, "duplicate")
        if accepted.arrival < 0:
            return self._answer(503, "busy, redeliver later", name, "refused_503")
        if accepted.replaced_id is not None:
            # Its subject's later delivery does its work; see WebhookService._supersede.
            # The metric is what an operator watches; the line, as in the embedded mode, is
            # for debugging (at INFO it was one line per push in a busy repository).
            self.metrics.delivery(event_label(accepted.replaced_event or ""), "superseded")
            log.debug(
                "delivery %s: replaced in the queue by %s, a later delivery about %s",
                accepted.replaced_id,
                delivery_id,
                subject,
                extra=about(accepted.replaced_id),
            )
        return self._answer(202, "accepted", name, "accepted")


REDIS_WEBHOOK = web.AppKey("wheelwatch_redis_webhook", RedisWebhook)


def create_redis_app(config: AppConfig) -> web.Application:
    """The web process of the Redis mode; nothing starts until it is run."""
    if config.redis_url is None:
        raise ValueError("the Redis mode needs a redis_url")
    redis_url = config.redis_url
    app = web.Application(client_max_size=config.max_body_bytes)
    metrics = Metrics()
    service = RedisWebhook(config, metrics)
    app[REDIS_WEBHOOK] = service
    app[METRICS] = metrics

    async def redis_pool(app: web.Application) -> AsyncIterator[None]:
        redis = await connect(redis_url)
        service.intake = RedisIntake(redis, queue_size=config.queue_size)
        yield
        service.intake = None
        await redis.aclose()

    async def stop_accepting(_app: web.Application) -> None:
        # Accepted deliveries are in Redis already: nothing to drain in this process.
        service.accepting = False

    app.cleanup_ctx.append(redis_pool)
    app.on_shutdown.append(stop_accepting)

    async def healthz(_request: web.Request) -> web.Response:
        if not service.accepting or service.intake is None:
            return web.json_response({"status": "draining"}, status=503)
        try:
            queued, _age = await service.intake.waiting()
        except (RedisError, OSError):
            return web.json_response({"status": "redis unavailable"}, status=503)
        return web.json_response({"status": "ok", "queue": queued})

    async def metrics_text(_request: web.Request) -> web.Response:
        # The queue is Redis's, shared by every process: each web process reports all of it.
        if service.intake is not None:
            try:
                metrics.queue(*await service.intake.waiting())
            except (RedisError, OSError) as exc:
                log.warning("metrics: Redis unavailable (%r); queue figures are stale", exc)
        return web.Response(body=metrics.render(), headers={"Content-Type": CONTENT_TYPE})

    app.router.add_post("/webhook", service.handle_webhook)
    app.router.add_post("/", service.handle_webhook)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics_text)
    return app

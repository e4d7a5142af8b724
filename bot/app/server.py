"""The webhook server: verify, acknowledge, queue; workers route deliveries to handlers.

``create_app(config)`` builds the ``aiohttp`` application. A delivery is answered as soon
as it is verified and queued (202), or refused: 401 for a missing or wrong signature
(nothing else is done), 400 for a malformed request, 413 over the size limit, 503 when
the queue is full or the server is shutting down (GitHub records a failed delivery that
can be redelivered). A fixed pool of workers takes deliveries from the bounded queue.

The queue holds at most one delivery per subject (a pull request, a commit; see
``subject_of``): a delivery about a subject that already has one waiting replaces it, and the
replaced one is counted ``superseded``. So a burst about one pull request takes one place,
and 503 means ``queue_size`` distinct subjects are waiting.

Refusals that need no reading are made first: under overload a 503 costs about what an
HMAC check costs, so the answers that shed load do not starve the workers that drain it
(bench/webhook_ack.py measured 247 accepted deliveries/s at 64 connections, against 1,822
at one connection, while every 503 still parsed the whole body).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, replace

import aiohttp
from aiohttp import web
from cachetools import TTLCache
from gidgethub import sansio

from bot.app import reruns
from bot.app.answers import answer
from bot.app.body_reader import BodyReader, BodyRefused
from bot.app.config import AppConfig
from bot.app.decoding import Refused, decode_delivery, decode_routing
from bot.app.delivery import CommitClaims, LatestWins, SubjectQueue, Ticket
from bot.app.github import GitHubApp
from bot.app.log_format import DELIVERY, about
from bot.app.log_limits import OneLineClientErrors
from bot.app.metrics import CONTENT_TYPE, Metrics
from bot.app.process_pool import ProcessPool
from bot.app.processing import FAILED_OUTCOMES, KNOWN_EVENTS, ROUTER, Processor, event_label

log = logging.getLogger(__name__)

GitHubFactory = Callable[[aiohttp.ClientSession, AppConfig, Metrics], GitHubApp]

MAX_HEADER_CHARS = 200
# GitHub's delivery ids are GUIDs. The id is written into log lines (arq's too, unescaped)
# and the signature does not cover the headers: anyone holding one signed body could replay
# it under any id. aiohttp refuses CR, LF and control bytes; a Unicode line separator, a tab
# or a byte that is not UTF-8 would still reach a log line. Visible ASCII only, then.
_DELIVERY_ID = re.compile(f"[!-~]{{1,{MAX_HEADER_CHARS}}}")


def valid_delivery_id(value: str) -> bool:
    return _DELIVERY_ID.fullmatch(value) is not None


# At most one "queue full" warning per this many seconds (a burst would flood the log).
FULL_WARNING_INTERVAL = 10.0


def log_refused_signature(headers: Mapping[str, str]) -> None:
    """Say so, so that a wrong secret shows; serve's RepeatedLines filter bounds a flood."""
    delivery_id = headers.get("X-GitHub-Delivery", "")
    log.warning(
        "refused delivery %r: X-Hub-Signature-256 does not match GITHUB_WEBHOOK_SECRET",
        delivery_id[:MAX_HEADER_CHARS],
        # Unsigned: in the field only when it cannot break a line (1-200 visible characters).
        extra=about(delivery_id) if valid_delivery_id(delivery_id) else None,
    )


def default_github(
    session: aiohttp.ClientSession, config: AppConfig, metrics: Metrics
) -> GitHubApp:
    return GitHubApp(
        session,
        app_id=config.app_id,
        private_key=config.private_key,
        api_url=config.api_url,
        metrics=metrics,
        etag_cache_bytes=config.etag_cache_bytes,
    )


@dataclass(frozen=True)
class Job:
    # Only what the acknowledgement read (bot.app.decoding): the whole body is decoded when
    # a worker takes the job, so a delivery replaced while it waits is never decoded at all.
    event: sansio.Event
    ticket: Ticket
    received: float
    body: bytes
    content_type: str
    # 2 and more: a run again of a delivery GitHub failed (bot.app.reruns).
    runs: int = 1


def subject_of(event: sansio.Event) -> str:
    """What a delivery is about: deliveries about one subject run in order, latest wins."""
    data = event.data
    try:
        repo = data["repository"]["full_name"]
        if event.event == "pull_request":
            return f"{repo}#{int(data['pull_request']['number'])}"
        if event.event == "push":
            return f"{repo}@{data['after']}"
        if event.event == "check_suite":
            return f"{repo}@{data['check_suite']['head_sha']}"
        if event.event == "check_run":
            # A Fix press is work of its own, not a check of the commit: neither replaces the
            # other in the queue (a later delivery about a subject does the earlier one's work).
            fix = ":fix" if data.get("action") == "requested_action" else ""
            return f"{repo}@{data['check_run']['head_sha']}{fix}"
    except (KeyError, TypeError, ValueError):
        pass
    return f"delivery:{event.delivery_id}"


class WebhookService:
    """State shared by the webhook route and the workers; one per application."""

    def __init__(self, config: AppConfig, metrics: Metrics) -> None:
        self.config = config
        self.metrics = metrics
        self.queue: SubjectQueue[Job] = SubjectQueue(config.queue_size)
        self.order = LatestWins()
        self.commits = CommitClaims(config.commit_claims)
        # Delivery ids processed in the last day (GitHub redelivers with the same id); the
        # oldest are forgotten first beyond ``seen_deliveries``. An id enters only once its
        # delivery is processed: one that failed can come again.
        self.seen: TTLCache[str, bool] = TTLCache(
            maxsize=config.seen_deliveries, ttl=24 * 3600, timer=time.monotonic
        )
        # Ids accepted and not yet finished (at most the queue and the workers' deliveries).
        self.pending: set[str] = set()
        self.processor = Processor(config, metrics, self.order, self.commits)
        self.accepting = True
        self.workers: list[asyncio.Task[None]] = []
        # Deliveries waiting to run again (bot.app.reruns), by id: each waits in a task for
        # ``rerun_timer`` (tests drive it) and then goes back to the queue.
        self.reruns: dict[str, tuple[Job, asyncio.Task[None]]] = {}
        self.rerun_timer: Callable[[float], Awaitable[None]] = asyncio.sleep
        self.busy = 0
        self.bodies = BodyReader.configured(config)
        self._full_since_warning = 0
        self._full_warned_at = -FULL_WARNING_INTERVAL

    def _refuse(self, status: int, reason: str, event: str = "unknown") -> web.Response:
        self.metrics.delivery(event, f"refused_{status}")
        return answer(status, reason)

    def _refuse_busy(self, event: str) -> web.Response:
        self._full_since_warning += 1
        now = time.monotonic()
        if now - self._full_warned_at >= FULL_WARNING_INTERVAL:
            log.warning(
                "queue full (%d waiting): refused %d deliveries with 503 since the last warning",
                self.queue.qsize(),
                self._full_since_warning,
            )
            self._full_warned_at, self._full_since_warning = now, 0
        return self._refuse(503, "busy, redeliver later", event)

    async def handle_webhook(self, request: web.Request) -> web.Response:
        if not self.accepting:
            return self._refuse(503, "shutting down")
        if (request.content_length or 0) > self.config.max_body_bytes:
            return self._refuse(413, "body too large")
        if self.queue.full():
            # Before reading or verifying anything: shedding load must stay cheap. This also
            # refuses a delivery that would only have replaced a waiting one (its subject is
            # in the body): telling them apart costs the parse that made 503s starve the
            # workers. GitHub redelivers it.
            header = request.headers.get("X-GitHub-Event", "")
            return self._refuse_busy(header if header in KNOWN_EVENTS else "unknown")
        try:
            # Bounded, timed, and verified as it is read (see body_reader).
            body = await self.bodies.read_signed(request)
        except BodyRefused as refused:
            if refused.status == 401:
                log_refused_signature(request.headers)
            response = self._refuse(refused.status, refused.reason)
            if refused.status != 401:
                response.force_close()  # the rest of the body is not read
            return response
        try:
            event = decode_routing(request.headers, body)
        except Refused as refused:
            # Never say more to an unsigned caller, and do no work for it.
            if refused.status == 401:
                log_refused_signature(request.headers)
            return self._refuse(refused.status, refused.reason)
        name = event_label(event.event)
        if (
            not isinstance(event.data, dict)
            # The router looks the action up in a dict: a list or an object there raised
            # TypeError and answered 500 (found by tests/test_app_hostile.py).
            or not isinstance(event.data.get("action", ""), str)
            or not valid_delivery_id(event.delivery_id)
            or len(event.event) > MAX_HEADER_CHARS
        ):
            return self._refuse(400, "malformed delivery", name)
        if event.delivery_id in self.seen or event.delivery_id in self.pending:
            self.metrics.delivery(name, "duplicate")
            return answer(200, "duplicate")
        if not ROUTER.fetch(event):
            self.metrics.delivery(name, "ignored")
            return answer(200, "ignored")
        subject = subject_of(event)
        if self.queue.full() and not self.queue.waiting(subject):
            return self._refuse_busy(name)  # it filled while this body was read
        ticket = self.order.take(subject)
        content_type = request.headers.get("Content-Type", "")
        job = Job(event, ticket, time.monotonic(), body, content_type)
        replaced = self.queue.put_nowait(subject, job)
        self.pending.add(event.delivery_id)
        self.metrics.delivery(name, "accepted")
        if replaced is not None:
            self._supersede(replaced)
        return answer(202, "accepted")

    def _supersede(self, job: Job) -> None:
        """``job`` waited, not started, and a later delivery about its subject replaced it.

        Nothing is lost: the later delivery is about the same subject (the same pull request
        or commit) and at least as recent, and the handlers read the subject's current state
        from GitHub (changed files, workflow texts at the head commit, what was posted), so
        processing the later one covers what the earlier one would have done. Had the earlier
        one stayed queued, it would have found itself superseded when its turn came
        (``LatestWins.is_current``) and posted nothing: replacing it here changes no outcome,
        it only gives its place back. Its delivery id goes into ``seen``, so a redelivery
        of it is a duplicate.
        """
        self.order.release(job.ticket)
        self._finished(job.event.delivery_id, "superseded")
        self.metrics.delivery(event_label(job.event.event), "superseded")
        self.metrics.processed(time.monotonic() - job.received)
        log.debug(
            "delivery %s: replaced in the queue by a later one about %s",
            job.event.delivery_id,
            job.ticket.subject,
            extra=about(job.event.delivery_id),
        )

    async def work(self) -> None:
        while True:
            job = await self.queue.get()
            self.busy += 1
            try:
                await self.process(job)
            finally:
                self.busy -= 1
                self.queue.task_done()

    async def process(self, job: Job) -> None:
        # This worker task serves this job now, not the one before (bot.app.log_format).
        DELIVERY.set(job.event.delivery_id)
        headers = {
            "Content-Type": job.content_type,
            "X-GitHub-Event": job.event.event,
            "X-GitHub-Delivery": job.event.delivery_id,
        }
        try:
            event = decode_delivery(headers, job.body)
        except Refused as refused:
            # Only a body the acknowledgement's partial read could not tell (decode_routing).
            self.order.release(job.ticket)
            self.metrics.delivery(event_label(job.event.event), "malformed")
            log.warning("delivery %s: %s; skipped", job.event.delivery_id, refused.reason)
            self._finished(job.event.delivery_id, "malformed")
            return
        # Held so that a later delivery about the subject still supersedes a run again.
        self.order.hold(job.ticket)
        try:
            outcome = await self.processor.process(
                event, job.ticket, job.received, attempt=job.runs
            )
        except BaseException:  # cancelled by the shutdown: nothing runs again
            self.order.release(job.ticket)
            raise
        label, delivery_id = event_label(job.event.event), job.event.delivery_id
        delay = reruns.next_delay(self.config, outcome, job.runs)
        if delay is None:
            self.order.release(job.ticket)
            if outcome == reruns.TRANSIENT_OUTCOME:
                reruns.given_up(self.metrics, label, delivery_id, job.runs)
            self._finished(delivery_id, outcome)
            return
        if not self.accepting:
            # The drain has already taken the waiting runs again out: nothing would start it.
            self._not_run_again(job)
            return
        # Still pending: a redelivery of it meanwhile is a duplicate.
        reruns.scheduled(self.metrics, label, delivery_id, job.runs, delay)
        self._schedule(replace(job, runs=job.runs + 1), delay)

    def _schedule(self, job: Job, delay: float) -> None:
        task = asyncio.create_task(self._run_again(job, delay))
        self.reruns[job.event.delivery_id] = (job, task)

    async def _run_again(self, job: Job, delay: float) -> None:
        try:
            await self.rerun_timer(delay)
        finally:
            del self.reruns[job.event.delivery_id]
        subject = job.ticket.subject
        if self.queue.waiting(subject):
            # A later delivery about the subject waits: it does this one's work.
            self._supersede(job)
            return
        try:
            self.queue.put_nowait(subject, job)
        except asyncio.QueueFull:
            log.warning(
                "delivery %s: the queue is full; its run again waits %.0fs more",
                job.event.delivery_id,
                delay,
            )
            self._schedule(job, delay)

    def _not_run_again(self, job: Job) -> None:
        """The shutdown came before ``job``'s run again: named, for a redelivery by hand."""
        self.order.release(job.ticket)
        self.pending.discard(job.event.delivery_id)
        self.metrics.delivery(event_label(job.event.event), "not_started")
        log.warning(
            "delivery %s: its run again was not started before the shutdown;"
            " redeliver it from the App's settings",
            job.event.delivery_id,
            extra=about(job.event.delivery_id),
        )

    def _finished(self, delivery_id: str, outcome: str) -> None:
        self.pending.discard(delivery_id)
        if outcome not in FAILED_OUTCOMES:
            self.seen[delivery_id] = True

    async def drain(self, _app: web.Application) -> None:
        """On shutdown: refuse new deliveries, let accepted ones finish within the bound.

        Those still waiting when the bound is reached are taken out of the queue, each
        named in the log and counted ``not_started``; those still running are cut off when
        the workers stop (``cut_off``, see ``Processor.process``). Runs once: ``wheelwatch
        serve`` drains on SIGTERM while it still answers (503), then aiohttp's shutdown
        calls it again.
        """
        if not self.accepting:
            return
        self.accepting = False
        # A run again waits minutes: the shutdown does not wait for it.
        for job, task in list(self.reruns.values()):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            self._not_run_again(job)
        log.info(
            "draining: waiting up to %.0fs for %d accepted deliveries (%d in progress)",
            self.config.drain_seconds,
            self.queue.qsize() + self.busy,
            self.busy,
        )
        try:
            await asyncio.wait_for(self.queue.join(), self.config.drain_seconds)
        except TimeoutError:
            waiting = self.queue.take_all()
            log.warning(
                "drain timed out: %d deliveries not started, %d cut off in progress",
                len(waiting),
                self.busy,
            )
            for job in waiting:
                self.order.release(job.ticket)
                self.metrics.delivery(event_label(job.event.event), "not_started")
                log.warning(
                    "delivery %s: not started before the shutdown; GitHub can redeliver it",
                    job.event.delivery_id,
                    extra=about(job.event.delivery_id),
                )
        else:
            log.info("drained")


SERVICE = web.AppKey("wheelwatch_service", WebhookService)
METRICS = web.AppKey("wheelwatch_metrics", Metrics)


def create_app(
    config: AppConfig, *, github_factory: GitHubFactory = default_github
) -> web.Application:
    """The App's web application; nothing starts until it is run."""
    app = web.Application(client_max_size=config.max_body_bytes)
    metrics = Metrics()
    service = WebhookService(config, metrics)
    app[SERVICE] = service
    app[METRICS] = metrics

    async def github_session(app: web.Application) -> AsyncIterator[None]:
        # One session for the process; closed after the drain, when nothing uses it.
        async with aiohttp.ClientSession() as session:
            service.processor.github = github_factory(session, config, metrics)
            yield
            service.processor.github = None

    async def workers(app: web.Application) -> AsyncIterator[None]:
        service.workers = [asyncio.create_task(service.work()) for _ in range(config.workers)]
        yield
        for task in service.workers:
            task.cancel()
        for task in service.workers:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def one_line_client_errors(app: web.Application) -> AsyncIterator[None]:
        server_log = logging.getLogger("aiohttp.server")
        one_line = OneLineClientErrors()
        server_log.addFilter(one_line)
        yield
        server_log.removeFilter(one_line)

    async def analysis_processes(app: web.Application) -> AsyncIterator[None]:
        # Started on first use; closed after the workers, when no job can be running.
        pool = ProcessPool(config.analysis_processes)
        service.processor.pool = pool
        yield
        await pool.close()

    app.cleanup_ctx.append(one_line_client_errors)
    app.cleanup_ctx.append(github_session)
    app.cleanup_ctx.append(analysis_processes)
    app.cleanup_ctx.append(workers)
    app.on_shutdown.append(service.drain)

    async def healthz(_request: web.Request) -> web.Response:
        status = 200 if service.accepting else 503
        return web.json_response(
            {"status": "ok" if service.accepting else "draining", "queue": service.queue.qsize()},
            status=status,
        )

    async def metrics_text(_request: web.Request) -> web.Response:
        oldest = service.queue.oldest()
        age = time.monotonic() - oldest.received if oldest is not None else 0.0
        metrics.queue(service.queue.qsize(), age)
        return web.Response(body=metrics.render(), headers={"Content-Type": CONTENT_TYPE})

    app.router.add_post("/webhook", service.handle_webhook)
    app.router.add_post("/", service.handle_webhook)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics_text)
    return app

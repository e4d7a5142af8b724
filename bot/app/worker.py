"""``wheelwatch worker``: processes the deliveries that web processes put in Redis.

An arq worker runs up to ``WHEELWATCH_WORKERS`` jobs at once, each one delivery. A job's
in-progress key is a short lease from the moment arq starts it, then holds the try's token,
renewed while it runs (:class:`~bot.app.queue_redis.JobLease`), so a worker that is killed
anywhere in a job loses nothing: once the lease lapses, another worker takes the job up again
(arq counts the try), and what the first run posted is found by the same means that make a
redelivery safe (the hidden markers of review comments, the commit claim that the retried
delivery still owns). A worker that stalled past its lease finds another's token before its
next write to GitHub and stops without writing (``lease_lost``), leaving the job to the
worker that holds it. On SIGTERM a worker stops taking jobs and gives running ones
``WHEELWATCH_DRAIN_SECONDS`` to finish; the ones it then cancels go back to the queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
from aiohttp import web
from arq.connections import ArqRedis
from arq.constants import in_progress_key_prefix
from arq.utils import timestamp_ms
from arq.worker import JobExecutionFailed, Retry, Worker, func
from redis.exceptions import RedisError

from bot.app import job_payload, reruns
from bot.app.cache_redis import shared_analysis_cache
from bot.app.config import AppConfig
from bot.app.decoding import Refused, decode_delivery
from bot.app.log_format import DELIVERY
from bot.app.metrics import CONTENT_TYPE, Metrics
from bot.app.process_pool import ProcessPool
from bot.app.processing import FAILED_OUTCOMES, ROUTER, Processor, event_label, well_formed
from bot.app.queue_redis import (
    DELIVERY_TTL,
    JOB_FUNCTION,
    JobLease,
    RedisClaims,
    RedisIntake,
    RedisOrder,
    body_key,
    delivery_key,
    drop_job_keys,
    forget,
    given_up_key,
    plan_rerun,
    rerun_key,
    unqueue,
)
from bot.app.redis_settings import redis_settings
from bot.app.server import GitHubFactory, default_github, subject_of

log = logging.getLogger(__name__)

# arq cancels a job after this; it is a backstop, far above what the GitHub client's retries
# and rate-limit waits (at most 2 minutes each) can take. The lease, not this, decides how
# soon a killed worker's job is retried.
JOB_TIMEOUT = 900
# How often an idle worker asks Redis for jobs: arq's 0.5 s default leaves a free slot idle
# for 0.25 s on average, longer than a typical delivery's GitHub calls.
POLL_SECONDS = 0.05
# Tries of one delivery: crashes, kills and SIGTERM cancellations each count one, as does
# each of its runs again after GitHub failed (AppConfig.rerun_delays, on top of these). Out
# of tries, the delivery is given up and forgotten (_Worker.finish_failed_job).
MAX_TRIES = 5
# A job whose start failed on Redis waits this long before it is tried again.
REDIS_RETRY_SECONDS = 1.0


@dataclass
class WorkerState:
    config: AppConfig
    redis: ArqRedis
    order: RedisOrder
    processor: Processor
    metrics: Metrics


async def process_delivery(
    ctx: dict[str, Any], event_name: str, delivery_id: str, content_type: str
) -> str:
    """One job: hold it, decode the delivery, take its place in its subject's order, process."""
    state: WorkerState = ctx["wheelwatch"]
    ctx["event"] = event_name  # for after_job, should arq end the job without its outcome
    lease = JobLease(
        state.redis,
        ctx["job_id"],
        state.config.lease_seconds,
        reads=(
            body_key(delivery_id),
            delivery_key(delivery_id),
            rerun_key(delivery_id),
            given_up_key(delivery_id),
        ),
    )
    try:
        if await lease.take():
            body, arrival, planned, given_up_before = lease.read
            if ctx.get("job_try", 1) > 1:
                _log_try(delivery_id, ctx["job_try"], planned)
            async with lease:
                outcome = await _process(
                    ctx,
                    event_name,
                    delivery_id,
                    content_type,
                    lease,
                    body,
                    arrival,
                    given_up_before=given_up_before is not None,
                )
        else:
            # This worker stalled between arq's start of the job and here, past the lease.
            outcome = "lease_lost"
            log.warning("delivery %s: another worker has taken the job; left to it", delivery_id)
            state.metrics.delivery(event_label(event_name), outcome)
    except RedisError as exc:
        # Before the delivery's processing began (which catches its own errors): nothing was
        # done for it. Failed, arq would drop the job while its id stays recorded, so that
        # GitHub's redelivery would be a duplicate: the delivery would be lost.
        log.warning(
            "delivery %s: Redis failed as its job started (%r); back in the queue",
            delivery_id,
            exc,
        )
        raise Retry(defer=REDIS_RETRY_SECONDS) from exc
    if outcome == "lease_lost":
        # The job, its keys and its body are the other worker's: arq must not end it here.
        ctx["leases_lost"].add(ctx["job_id"])
    else:
        # Returned, the job has ended for good (arq tries a job again only after a kill, a
        # cancellation or a Retry, raised for a re-run): after_job drops its keys.
        ctx["ended"] = True
    return outcome


def _log_try(delivery_id: str, job_try: int, planned: bytes | None) -> None:
    if planned == str(job_try).encode():
        log.info(
            "delivery %s: try %d (the run again planned after GitHub failed)", delivery_id, job_try
        )
    else:
        # arq counts a try each time it starts the job and records nothing of why the one
        # before did not end: killed, cancelled by a shutdown, stalled past its lease, or a
        # Retry because Redis failed as it started (its own line said so). The mark of a
        # planned run again may also be missing: Redis failed as it was set, or evicted it.
        log.info(
            "delivery %s: try %d (not recorded as a planned run again: an earlier try was"
            " stopped or stalled, or Redis failed or lost the record)",
            delivery_id,
            job_try,
        )


async def _process(
    ctx: dict[str, Any],
    event_name: str,
    delivery_id: str,
    content_type: str,
    lease: JobLease,
    body: bytes | None,
    arrival_number: bytes | None,
    *,
    given_up_before: bool,
) -> str:
    """``body`` and ``arrival_number``: the values of the delivery's keys, read as the job
    was taken (None: not in Redis). ``given_up_before``: this is a redelivery of a delivery
    whose job was given up."""
    state: WorkerState = ctx["wheelwatch"]
    waited = max(0.0, time.time() - ctx["enqueue_time"].timestamp())
    received = time.monotonic() - waited
    headers = {
        "Content-Type": content_type,
        "X-GitHub-Event": event_name,
        "X-GitHub-Delivery": delivery_id,
    }
    if body is None:
        log.warning("delivery %s: its body is no longer in Redis; skipped", delivery_id)
        state.metrics.delivery(event_label(event_name), "malformed")
        return "malformed"
    try:
        event = decode_delivery(headers, body)
        if not well_formed(event):
            raise Refused(400, "malformed delivery")
    except Refused as refused:
        log.warning("delivery %s: %s; skipped", delivery_id, refused.reason)
        state.metrics.delivery(event_label(event_name), "malformed")
        return "malformed"
    if not ROUTER.fetch(event):
        state.metrics.delivery(event_label(event_name), "ignored")
        return "ignored"
    if arrival_number is None:  # forgotten: a new one
        arrival = await state.order.arrival(delivery_id)
    else:
        arrival = int(arrival_number)
    ticket = await state.order.take(subject_of(event), arrival)
    runs = int(ctx.get("job_try") or 1)
    # A given-up job's tries may have created the check run and been killed before closing
    # it: a later try looks for it (by its external_id) instead of making a second one.
    attempt = max(runs, 2) if given_up_before else runs
    outcome = await state.processor.process(
        event, ticket, received, attempt=attempt, before_write=lease.check
    )
    label = event_label(event_name)
    delay = reruns.next_delay(state.config, outcome, runs)
    if delay is not None:
        # The same job, its body and its delivery key kept, started again by arq after
        # the delay as its next try (job_try counts runs and interrupted tries alike).
        reruns.scheduled(state.metrics, label, delivery_id, runs, delay)
        try:
            await unqueue(state.redis, subject_of(event), event_name, delivery_id)
        except RedisError as exc:  # the next delivery about it may then wait for the delay
            log.warning("delivery %s: its subject's queue entry stays (%r)", delivery_id, exc)
        try:
            await plan_rerun(state.redis, delivery_id, runs + 1, delay)
        except RedisError as exc:  # the run again's line will not say it is one
            log.warning("delivery %s: its run again is not recorded (%r)", delivery_id, exc)
        raise Retry(defer=delay)
    if outcome == reruns.TRANSIENT_OUTCOME:
        reruns.given_up(state.metrics, label, delivery_id, runs)
    # Forgotten once arq has recorded the job's end (after_job_end): forgotten before, a
    # redelivery could enqueue a job under the same id that arq's clean-up then deleted.
    ctx["forget"] = outcome in FAILED_OUTCOMES
    return outcome


async def serve_metrics(config: AppConfig, metrics: Metrics, queue: RedisIntake) -> web.AppRunner:
    """``GET /metrics`` for this worker's counts, and the shared queue's depth and age."""

    async def metrics_text(_request: web.Request) -> web.Response:
        with contextlib.suppress(RedisError, OSError):
            metrics.queue(*await queue.waiting())
        return web.Response(body=metrics.render(), headers={"Content-Type": CONTENT_TYPE})

    app = web.Application()
    app.router.add_get("/metrics", metrics_text)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, config.host, config.metrics_port).start()
    return runner


# KEYS: arq's queue. ARGV: now (ms), arq's read window, arq's in-progress key prefix, then the
# ids arq read (in queue order). Returns those that no worker is running (no in-progress key)
# and, if arq's read filled its window, more due jobs from behind it until it has a window's
# worth: arq keeps a running job in its queue, where it was, until it ends, so with more jobs
# running across workers than the window, arq's read held only them. Each page reads as many
# as are still wanted: what a poll costs grows with the running jobs it passes (at most what
# all workers run at once) and the jobs it returns, not with the queue's length.
FREE_JOBS = """
local window, prefix = tonumber(ARGV[2]), ARGV[3]
local free = {}
for i = 4, #ARGV do
  if redis.call('EXISTS', prefix .. ARGV[i]) == 0 then free[#free + 1] = ARGV[i] end
end
local offset = #ARGV - 3
if offset < window then return free end
while #free < window do
  local page = window - #free
  local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', offset, page)
  for _, id in ipairs(ids) do
    if redis.call('EXISTS', prefix .. id) == 0 then free[#free + 1] = id end
  end
  if #ids < page then break end
  offset = offset + page
end
return free
"""


# KEYS: a job's in-progress key, arq's queue. ARGV: the job id, now (ms), the lease (ms).
# Starts the job as arq's start_jobs does (WATCH, EXISTS, ZSCORE, then MULTI/PSETEX/EXEC:
# four round trips), atomically in one: the job's score, or nil if another worker has started
# it, it has left the queue (ended, replaced) or it is deferred to later.
START_JOB = """
local score = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not score or tonumber(score) > tonumber(ARGV[2]) then return false end
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
redis.call('SET', KEYS[1], '1', 'PX', ARGV[3])
return score
"""


async def give_up(
    redis: ArqRedis, metrics: Metrics, delivery_id: str, event: str, reason: str
) -> None:
    """arq ended the delivery's job without its outcome: nothing will process it, so its keys
    (body, run-again mark) are dropped and its id forgotten, for GitHub's redelivery to be
    processed (recorded, it was answered ``duplicate`` for a day: the delivery was lost for
    good); the given-up mark tells that redelivery to look for the check run first."""
    await _drop(redis, delivery_id)
    with contextlib.suppress(RedisError):  # lost, a redelivery may make a second check run
        await redis.set(given_up_key(delivery_id), 1, ex=DELIVERY_TTL)
    metrics.delivery(event_label(event), "given_up")
    log.error(
        "delivery %s: given up (%s); redeliver it from the App's settings", delivery_id, reason
    )


async def _drop(redis: ArqRedis, delivery_id: str) -> None:
    try:
        await drop_job_keys(redis, delivery_id)
        # After arq's clean-up, as in after_job: forgotten before, a redelivery could enqueue
        # a job under the same id that arq's clean-up then deleted.
        await forget(redis, delivery_id)
    except RedisError as exc:
        log.error(
            "delivery %s: Redis failed as its given-up job's id was being forgotten (%r);"
            " a redelivery of it may be answered duplicate",
            delivery_id,
            exc,
        )


def _failure(result_data: bytes | None) -> tuple[str, int, str] | None:
    """The event, try number and reason that arq recorded for a delivery's failed job
    (``arq.jobs.serialize_result``, in our JSON); None if the job was not a delivery's."""
    try:
        data = orjson.loads(result_data or b"")
        event, _delivery_id, _content_type = data["a"]
        if data["f"] != JOB_FUNCTION:
            return None
        return str(event), int(data["t"]), str(data["r"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None


# What arq's run_job records as the result of a job whose key was gone when a worker took
# it up (it expired: JOB_EXPIRES_MS, or a run again's delay and that); arq says so no other way.
_EXPIRED = repr(JobExecutionFailed("job expired"))


def _expired(result_data: bytes | None) -> bool:
    try:
        return bool(orjson.loads(result_data or b"")["r"] == _EXPIRED)
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return False


class _Worker(Worker):
    async def start_jobs(self, job_ids: list[bytes]) -> None:
        """arq's, given only jobs that no worker is running, each started in one script.

        arq leaves a running job in its queue until it ends, at the queue's head, and reads
        ``queue_read_limit`` ids of the head at every poll: it tried each running job again
        (WATCH, EXISTS, ZSCORE, UNWATCH: four round trips) before it reached a free one, 2.3
        times per job it started with one worker process and 4.3 times with two
        (bench/redis_scale.py), and with more jobs running across workers than it reads, it
        read only those and started nothing. :data:`FREE_JOBS` reads past them, in one
        round trip; one more starts each free job (:data:`START_JOB`), where arq's
        transaction took four round trips, whose building in redis-py cost the worker's CPU.
        """
        if not job_ids:
            return
        free = await self.pool.register_script(FREE_JOBS)(
            keys=[self.queue_name],
            args=[timestamp_ms(), self.queue_read_limit, in_progress_key_prefix, *job_ids],
        )
        start = self.pool.register_script(START_JOB)
        lease_ms = int(self.in_progress_timeout_s * 1000)
        for free_id in free:
            job_id = free_id.decode()
            # arq's bounds: a slot of the semaphore, and max_jobs over the worker's life.
            await self.sem.acquire()
            if self.job_counter >= self.max_jobs:
                self.sem.release()
                return
            self.job_counter += 1
            try:
                keys = [in_progress_key_prefix + job_id, self.queue_name]
                score = await start(keys=keys, args=[job_id, timestamp_ms(), lease_ms])
            except BaseException:
                self._release_sem_dec_counter_on_complete()
                raise
            if score is None:  # started elsewhere meanwhile, ended, replaced or deferred
                self._release_sem_dec_counter_on_complete()
                continue
            task = self.loop.create_task(self.run_job(job_id, int(float(score))))
            task.add_done_callback(lambda _: self._release_sem_dec_counter_on_complete())
            self.tasks[job_id] = task

    async def run_job(self, job_id: str, score: int) -> None:
        """arq's, in a task that serves the job's delivery (the job id is the delivery id):
        every line logged in it, arq's own included (start, end, retry, cancellation, failure,
        max tries), names the delivery in the delivery field, as ours do."""
        DELIVERY.set(job_id)  # this task's context only: start_jobs made the task
        await super().run_job(job_id, score)

    async def finish_job(self, job_id: str, finish: bool, *args: Any, **kwargs: Any) -> None:
        """arq's end of a job (delete its in-progress key, take it off the queue), except
        for a try that lost the job to another worker: the job is that worker's. A job arq
        ends for good (``finish``) is marked for after_job, which tells whether it ended
        with its outcome."""
        lost: set[str] = self.ctx["leases_lost"]
        if job_id in lost:
            lost.discard(job_id)
            return
        await super().finish_job(job_id, finish, *args, **kwargs)
        if finish:
            self.ctx["finished"].add(job_id)

    async def finish_failed_job(self, job_id: str, result_data: bytes | None) -> None:
        """arq's end of a job it failed without running our function (its tries exhausted by
        kills, cancellations or Retry; expired; not decodable), then what our function's end
        would have done: the delivery was not processed, so its keys are dropped and its id
        forgotten, and a redelivery from GitHub is processed. Recorded, it answered
        ``duplicate`` for a day: the delivery was lost for good. A delivery's job (expired
        ones included) is also counted ``given_up`` and named in an error line."""
        await super().finish_failed_job(job_id, result_data)
        failure = _failure(result_data)
        if failure is None and _expired(result_data):
            # Its job key, with the event, is gone: the id (the delivery's) is all that is
            # left, and the operator needs it to redeliver. Counted under ``other``.
            reason = "its job expired unprocessed: no worker started it in time"
            await give_up(self.pool, self.ctx["metrics"], job_id, "", reason)
            return
        if failure is None:  # not a delivery's job (a planted one): arq has said why
            await _drop(self.pool, job_id)
            return
        event, tries, reason = failure
        await give_up(
            self.pool, self.ctx["metrics"], job_id, event, f"after {tries - 1} tries: {reason}"
        )

    async def close(self) -> None:
        """arq's ``Worker.close`` (0.28), but closing the pool with redis-py's ``aclose``: arq
        calls ``close``, deprecated since redis-py 5.0.1 (a DeprecationWarning each time)."""
        if not self._handle_signals:
            self.handle_sig(signal.SIGUSR1)
        if not self._pool:
            return
        await asyncio.gather(*self.tasks.values())
        await self.pool.delete(self.health_check_key)
        if self.on_shutdown:
            await self.on_shutdown(self.ctx)
        await self.pool.aclose(close_connection_pool=True)
        self._pool = None


def build_worker(
    config: AppConfig,
    *,
    github_factory: GitHubFactory = default_github,
    burst: bool = False,
    handle_signals: bool = True,
) -> Worker:
    """An arq worker for the deliveries in ``config.redis_url``; ``run()`` it, or await
    ``main()`` (``burst``: until the queue is empty)."""
    if config.redis_url is None:
        raise ValueError("a worker needs a redis_url")
    metrics = Metrics()

    async def startup(ctx: dict[str, Any]) -> None:
        redis: ArqRedis = ctx["redis"]
        if config.metrics_port is not None:
            queue = RedisIntake(redis, queue_size=config.queue_size)
            ctx["metrics_site"] = await serve_metrics(config, metrics, queue)
        session = aiohttp.ClientSession()
        order = RedisOrder(redis, lease_seconds=config.lease_seconds)
        processor = Processor(config, metrics, order, RedisClaims(redis))
        processor.github = github_factory(session, config, metrics)
        processor.pool = ctx["pool"] = ProcessPool(config.analysis_processes)
        if config.analysis_cache_bytes:  # 0: no cache at all, in memory or in Redis
            # What any worker process read or analysed, every other one reuses.
            processor.analyser.cache = shared_analysis_cache(redis, config.analysis_cache_bytes)
        ctx["session"] = session
        ctx["wheelwatch"] = WorkerState(config, redis, order, processor, metrics)

    async def after_job(ctx: dict[str, Any]) -> None:
        # The job id is the delivery id.
        finished: set[str] = ctx["finished"]
        if ctx["job_id"] in finished and not ctx.get("ended"):
            # arq ended the job for good without our outcome: it timed out (JOB_TIMEOUT), as
            # nothing else leaves process_delivery but an outcome, a Retry or a cancellation.
            reason = f"try {ctx['job_try']}, arq failed the job: see its line before this one"
            await give_up(ctx["redis"], ctx["metrics"], ctx["job_id"], ctx.get("event", ""), reason)
        finished.discard(ctx["job_id"])
        if ctx.get("ended"):
            await drop_job_keys(ctx["redis"], ctx["job_id"])
        if ctx.get("forget"):
            await forget(ctx["redis"], ctx["job_id"])

    async def shutdown(ctx: dict[str, Any]) -> None:
        session: aiohttp.ClientSession | None = ctx.get("session")
        if session is not None:
            await session.close()
        site: web.AppRunner | None = ctx.get("metrics_site")
        if site is not None:
            await site.cleanup()
        pool: ProcessPool | None = ctx.get("pool")
        if pool is not None:
            await pool.close()

    worker = _Worker(
        functions=[
            func(
                process_delivery,
                name=JOB_FUNCTION,
                max_tries=MAX_TRIES + len(config.rerun_delays),
            )
        ],
        redis_settings=redis_settings(config.redis_url),
        job_serializer=job_payload.dumps,
        job_deserializer=job_payload.loads,
        on_startup=startup,
        on_shutdown=shutdown,
        after_job_end=after_job,
        max_jobs=config.workers,
        job_timeout=JOB_TIMEOUT,
        keep_result=0,
        poll_delay=POLL_SECONDS,
        burst=burst,
        handle_signals=handle_signals,
        job_completion_wait=int(config.drain_seconds),
        ctx={"metrics": metrics, "leases_lost": set(), "finished": set()},
    )
    # arq marks a started job in progress for its whole timeout (and 10 s): a worker killed
    # before the job's first lease renewal left it untouched for 910 s. Marked for a lease
    # from the start, it is another worker's within a lease wherever its worker dies.
    worker.in_progress_timeout_s = config.lease_seconds
    return worker

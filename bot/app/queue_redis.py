"""Deliveries, their order and commit claims in Redis, shared by every web and worker process.

With ``WHEELWATCH_REDIS_URL`` set, ``wheelwatch serve`` only verifies a delivery and hands
its raw body to :class:`RedisIntake`, which de-duplicates the delivery id and enqueues an
arq job in one Lua script (the deliveries acknowledged together share one round trip);
``wheelwatch worker`` processes (``bot.app.worker``) run the jobs. What the embedded server
keeps in memory lives here under ``wheelwatch:`` keys, each with a time to live:

* ``wheelwatch:delivery:<id>``: the delivery was accepted; its value is the delivery's place
  in the global arrival order (``INCR wheelwatch:arrivals``). A redelivery finds it and is a
  duplicate. It is deleted when processing gave up (GitHub errors), so that a redelivery is
  processed again, as the embedded server forgets a delivery that was not processed.
* ``wheelwatch:latest:<subject>``: the highest arrival number about a subject (a pull
  request, a commit; ``bot.app.server.subject_of``), set when a delivery is accepted.
  :class:`RedisOrder` lets a delivery post only while it is the latest, and runs one delivery
  per subject at a time under a leased lock.
* ``wheelwatch:queued:<subject>``: the subject's last accepted delivery (its event and id).
  While that one waits in the queue (no worker has started it), the next delivery about the
  subject replaces it there, in its place, as the embedded server's queue does: the replaced
  one is never started, and a redelivery of it is a duplicate.
* ``wheelwatch:claim:<repo>@<sha>``: the delivery that owns the commit's check run
  (:class:`RedisClaims`). A retry of that same delivery (its worker was killed) keeps it.

* ``wheelwatch:body:<id>``: the delivery's body as it was signed, for as long as its job
  may wait; deleted when its job ends.
* ``wheelwatch:rerun:<id>``: the number of the try that is the delivery's planned run again
  (``bot.app.reruns``), set by the worker when it plans one (:func:`plan_rerun`); deleted
  with the body when its job ends (whichever way: an outcome, given up by arq, replaced in
  the queue). It expires with its job: a day after the run again's delay.
* ``wheelwatch:given-up:<id>``: the delivery's job was given up (``bot.app.worker.give_up``),
  for a day: a redelivery's first try then looks for the check run a killed try may have
  created. Deleted with the body when the redelivery's job ends.
* ``wheelwatch:staged:<intake>:<n>``: a body on its way in, written by the intake just
  before the script that renames it to the body's key (or deletes it: a duplicate, a full
  queue). One left by a web process that died in between expires within a minute.

The arq keys (``arq:queue``, ``arq:job:<id>``, ``arq:in-progress:<id>``) are arq's own; the
intake writes a job as ``ArqRedis.enqueue_job`` would, with the delivery id as job id, in
JSON (``bot.app.job_payload``: never pickle) and without the body, which is bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import secrets
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from arq.connections import ArqRedis
from arq.constants import default_queue_name, in_progress_key_prefix, job_key_prefix
from arq.jobs import serialize_job
from redis.asyncio.connection import Connection
from redis.exceptions import ConnectionError as ConnectionLost
from redis.exceptions import NoScriptError, RedisError, ResponseError

from bot.app.delivery import Claims, LeaseLost, Ticket
from bot.app.job_payload import dumps

log = logging.getLogger(__name__)

PREFIX = "wheelwatch:"
ARRIVALS = PREFIX + "arrivals"
# GitHub redelivers (by hand or through the API) for a few days at most; a day is the
# embedded server's memory too.
DELIVERY_TTL = 24 * 3600
LATEST_TTL = 24 * 3600
CLAIM_TTL = 3600
# The name of the arq function that processes a delivery (bot.app.worker registers it).
JOB_FUNCTION = "process_delivery"
# An enqueued job is dropped by arq if no worker starts it within this (arq's default); a
# job to run again is kept for its delay and this.
JOB_EXPIRES_MS = 86_400_000

# The script's constants are part of its text (a process registers it once, with its queue
# bound): sent as arguments with every delivery, they cost the client ~5-10 µs each time.
_ACCEPT = """
-- KEYS: delivery key, arrivals counter, arq job key, arq queue, body key, the subject's
--       queued key, the subject's latest key, the staged body's key
-- ARGV: job payload, queue score, job id, queued value (event and job id)
if redis.call('EXISTS', KEYS[8]) == 0 then return {{-2}} end
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('DEL', KEYS[8])
  return {{0}}
end
-- The subject's delivery still waiting, if any: one in the queue that no worker has started.
local previous = redis.call('GET', KEYS[6])
local replaced, score = false, false
if previous then
  local id = string.sub(previous, string.find(previous, ' ', 1, true) + 1)
  score = redis.call('ZSCORE', KEYS[4], id)
  if score and redis.call('EXISTS', '{in_progress}' .. id) == 0 then replaced = id end
end
-- Jobs due (waiting or running); one deferred to run again later waits outside the bound.
if not replaced and redis.call('ZCOUNT', KEYS[4], '-inf', ARGV[2]) >= {queue_size} then
  redis.call('DEL', KEYS[8])
  return {{-1}}
end
local arrival = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], arrival, 'EX', {delivery_ttl})
redis.call('RENAME', KEYS[8], KEYS[5])
redis.call('PEXPIRE', KEYS[5], {job_ttl_ms})
redis.call('SET', KEYS[3], ARGV[1], 'PX', {job_ttl_ms})
if replaced then
  redis.call('ZREM', KEYS[4], replaced)
  redis.call('DEL', '{job}' .. replaced, '{body}' .. replaced, '{rerun}' .. replaced)
  -- A worker that has read the queue but not yet started the replaced job finds it out of
  -- the queue and this key set: its start (bot.app.worker's START_JOB) refuses it.
  redis.call('SET', '{in_progress}' .. replaced, 'replaced', 'PX', 60000)
  redis.call('ZADD', KEYS[4], score, ARGV[3])  -- in the replaced one's place
else
  redis.call('ZADD', KEYS[4], ARGV[2], ARGV[3])
end
redis.call('SET', KEYS[6], ARGV[4], 'PX', {job_ttl_ms})
-- The latest arrival about the subject: a worker running an earlier one no longer posts.
redis.call('SET', KEYS[7], arrival, 'EX', {latest_ttl})
if replaced then return {{arrival, previous}} end
return {{arrival}}
"""
# The body (28 kB) is written by a plain SET to a key of its own, which the script renames:
# passed to the script as an argument, it was copied into Lua and out again, and
# redis-server spent ~125 µs of CPU per delivery instead of ~65 (bench/README.md).
STAGED_PREFIX = PREFIX + "staged:"
# Long enough for the script sent right behind it; a staged body never renamed expires.
STAGED_TTL_MS = 60_000
# SET <staged key> <body> PX <STAGED_TTL_MS> as command() encodes it: what comes before the
# body (given the key and the body's length), and what comes after it.
_SET_STAGED = b"*5\r\n$3\r\nSET\r\n$%d\r\n%b\r\n$%d\r\n"
_PX_STAGED = b"\r\n$2\r\nPX\r\n$%d\r\n%d\r\n" % (len(str(STAGED_TTL_MS)), STAGED_TTL_MS)

# KEYS: arq's queue. ARGV: now (ms), arq's in-progress key prefix. arq keeps a running job in
# its queue until it ends, and a job deferred (a run again) with its later score: neither
# waits for a worker. Returns how many jobs do, and the oldest one's score. Read per metrics
# scrape or health check, not per delivery: it costs the queue's length (WHEELWATCH_QUEUE_SIZE).
_WAITING = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'WITHSCORES')
local count, oldest = 0, 0
for i = 1, #due, 2 do
  if redis.call('EXISTS', ARGV[2] .. due[i]) == 0 then
    if count == 0 then oldest = due[i + 1] end
    count = count + 1
  end
end
return {count, oldest}
"""

_TAKE_LATEST = """
local latest = tonumber(redis.call('GET', KEYS[1]) or '0')
local arrival = tonumber(ARGV[1])
if arrival > latest then
  redis.call('SET', KEYS[1], arrival, 'EX', ARGV[2])
  return arrival
end
redis.call('EXPIRE', KEYS[1], ARGV[2])
return latest
"""

_CLAIM = """
local owner = redis.call('GET', KEYS[1])
if owner == false or owner == ARGV[1] or ARGV[3] == '1' then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
  return 1
end
return 0
"""

# A job's in-progress key as arq sets it when a worker starts the job ('1') becomes the
# try's token; any other value is another try's.
_TAKE_JOB = """
if redis.call('GET', KEYS[1]) == '1' then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""

# Renew or release a lock (or a claim) only while it still holds our token (owner).
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def delivery_key(delivery_id: str) -> str:
    return f"{PREFIX}delivery:{delivery_id}"


def body_key(delivery_id: str) -> str:
    return f"{PREFIX}body:{delivery_id}"


def given_up_key(delivery_id: str) -> str:
    """Set (for a day) when the delivery's job was given up: a redelivery's first try is then
    not the delivery's first (a killed try may have created its check run)."""
    return f"{PREFIX}given-up:{delivery_id}"


def rerun_key(delivery_id: str) -> str:
    """The number of the try planned as the delivery's run again: arq's job_try counts those
    and interrupted tries alike, and only this tells them apart."""
    return f"{PREFIX}rerun:{delivery_id}"


@dataclass(frozen=True)
class Accepted:
    """What the intake did with a delivery: its arrival number (0: a duplicate, -1: the queue
    is full) and the delivery it replaced in the queue, if any."""

    arrival: int
    replaced_id: str | None = None
    replaced_event: str | None = None


@dataclass
class _Arrival:
    # Its two commands (the staged body's SET, the script's EVALSHA), encoded for the wire.
    commands: list[bytes]
    answer: asyncio.Future[Accepted]


def command(*args: bytes) -> bytes:
    """One Redis command as the client sends it (RESP: an array of bulk strings)."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        parts += (b"$%d\r\n" % len(arg), arg, b"\r\n")
    return b"".join(parts)


async def _reply(connection: Connection) -> Any:
    """The next reply on ``connection``; an error reply (e.g. NOSCRIPT) as its exception."""
    try:
        return await connection.read_response()
    except ResponseError as error:
        return error


def _accepted(reply: Any) -> Accepted | Exception:
    if isinstance(reply, Exception):
        return reply
    if int(reply[0]) == -2:  # the staged body's SET failed (its error is in the replies)
        return RedisError("the body could not be written to Redis")
    if len(reply) == 1:
        return Accepted(int(reply[0]))
    replaced_event, _, replaced_id = reply[1].decode().partition(" ")
    return Accepted(int(reply[0]), replaced_id, replaced_event)


class RedisIntake:
    """The web process's side: accept a verified delivery into Redis, or say why not.

    Group commit: the deliveries that arrive while Redis is busy with the previous ones wait
    and go in one pipelined round trip (two commands each: the staged body, the script), so
    concurrent acknowledgements share the client's and the server's per-call costs. Each still
    gets its own answer: its script runs alone, in order, and sees the ones before it. A
    delivery that finds nothing on its way to Redis goes at once, sent by its own caller:
    alone, a sender task of its own was most of its bookkeeping (bench/README.md).
    """

    def __init__(self, redis: ArqRedis, *, queue_size: int) -> None:
        self.redis = redis
        self.queue_size = queue_size
        self._script = _ACCEPT.format(
            queue_size=int(queue_size),
            delivery_ttl=DELIVERY_TTL,
            latest_ttl=LATEST_TTL,
            job_ttl_ms=JOB_EXPIRES_MS,
            job=job_key_prefix,
            in_progress=in_progress_key_prefix,
            body=body_key(""),
            rerun=rerun_key(""),
        )
        self._accept = redis.register_script(self._script)
        self._count_waiting = redis.register_script(_WAITING)
        self._evalsha = (b"EVALSHA", self._accept.sha.encode(), b"8")
        # Staged keys are unique across web processes: a prefix per intake, a number per body.
        self._staged = f"{STAGED_PREFIX}{secrets.token_hex(8)}:"
        self._numbers = itertools.count()
        self._waiting: list[_Arrival] = []
        # True while a round trip is under way (a lone caller's or the sender task's).
        self._sending = False
        self._sender: asyncio.Task[None] | None = None

    async def accept(
        self, *, event: str, delivery_id: str, content_type: str, body: bytes, subject: str
    ) -> Accepted:
        """Record and enqueue the delivery, in the place of its subject's waiting one if any."""
        now_ms = int(time.time() * 1000)
        payload = serialize_job(
            JOB_FUNCTION, (event, delivery_id, content_type), {}, None, now_ms, serializer=dumps
        )
        staged = f"{self._staged}{next(self._numbers)}".encode()
        keys = (
            delivery_key(delivery_id),
            ARRIVALS,
            job_key_prefix + delivery_id,
            default_queue_name,
            body_key(delivery_id),
            PREFIX + "queued:" + subject,
            PREFIX + "latest:" + subject,
        )
        args = (str(now_ms), delivery_id, f"{event} {delivery_id}")
        script = command(
            *self._evalsha,
            *(key.encode() for key in keys),
            staged,
            payload,
            *(arg.encode() for arg in args),
        )
        # Encoded here, not by redis-py's pipeline: its pack_command was ~8 % of the web
        # process's CPU under wrk (bench/README.md). The body is copied once, by the write.
        arrival = _Arrival(
            commands=[_SET_STAGED % (len(staged), staged, len(body)), body, _PX_STAGED + script],
            answer=asyncio.get_running_loop().create_future(),
        )
        if self._sending:
            self._waiting.append(arrival)
            return await arrival.answer
        self._sending = True
        try:
            # Cancelled on its way (its caller went away), the script ran or it did not, as
            # for a waiting delivery whose caller gave up after or before it was sent.
            [result] = await self._send([arrival])
        finally:
            if self._waiting:  # those that arrived meanwhile go together, in the sender task
                self._sender = asyncio.create_task(self._send_waiting())
            else:
                self._sending = False
        if isinstance(result, Exception):
            raise result
        return result

    async def _send_waiting(self) -> None:
        try:
            while self._waiting:
                # A caller that gave up before its delivery was sent (its client went away)
                # is left out: it was answered nothing, so nothing is accepted for it.
                batch = [arrival for arrival in self._waiting if not arrival.answer.done()]
                self._waiting = []
                if not batch:
                    continue
                try:
                    results = await self._send(batch)
                except BaseException as exc:
                    for arrival in batch:
                        if arrival.answer.done():
                            continue
                        if isinstance(exc, asyncio.CancelledError):
                            arrival.answer.cancel()
                        else:
                            arrival.answer.set_exception(exc)
                    if not isinstance(exc, Exception):
                        for arrival in self._waiting:  # cancelled: the loop is stopping
                            arrival.answer.cancel()
                        raise
                    continue
                for arrival, result in zip(batch, results, strict=True):
                    if arrival.answer.done():
                        continue
                    if isinstance(result, Exception):
                        arrival.answer.set_exception(result)
                    else:
                        arrival.answer.set_result(result)
        finally:
            self._sending = False
            self._sender = None

    async def _send(self, batch: list[_Arrival]) -> list[Accepted | Exception]:
        """What the script did with each arrival, or the error Redis answered for it."""
        results = await self._pipelined(batch)
        forgotten = [i for i, result in enumerate(results) if isinstance(result, NoScriptError)]
        if forgotten:  # Redis restarted or flushed its scripts: nothing of those ran
            await self.redis.script_load(self._script)
            again = await self._pipelined([batch[i] for i in forgotten])
            for i, result in zip(forgotten, again, strict=True):
                results[i] = result
        return results

    async def _pipelined(self, batch: list[_Arrival]) -> list[Accepted | Exception]:
        """One round trip: every arrival's commands in one write, then their replies.

        As redis-py's pipeline does, on a connection of the client's pool: an error reply is
        that command's result, a connection that fails or a caller cancelled on the way is
        closed (the pool opens a new one) and the error raised for the whole batch.

        The pool's ``get_connection`` first tries a read on the connection, to find one
        Redis closed (a restart, its idle timeout): ~30 µs, most of a lone delivery's
        round trip (bench/README.md). Instead, a connection found closed before any reply
        came is replaced and the batch sent once more: Redis ran nothing on a connection it
        had closed, and should it have died after running some of the scripts, their second
        run answers those deliveries as duplicates, which they are."""
        commands = [chunk for arrival in batch for chunk in arrival.commands]
        pool = self.redis.connection_pool
        for last_try in (False, True):
            connection: Connection = pool.get_available_connection()  # type: ignore[no-untyped-call]
            results: list[Accepted | Exception] = []
            try:
                # At once when connected. (redis-py leaves these two untyped.)
                await connection.connect()  # type: ignore[no-untyped-call]
                await connection.send_packed_command(commands)
                for _ in batch:
                    await _reply(connection)  # the staged body's SET: the script checks it
                    results.append(_accepted(await _reply(connection)))
                return results
            except ConnectionLost:  # redis-py has closed the connection
                if results or last_try:
                    raise
            except BaseException:
                # Replies left unread would be the next round trip's.
                await connection.disconnect(nowait=True)
                raise
            finally:
                await pool.release(connection)
        raise AssertionError("unreachable")

    async def waiting(self) -> tuple[int, float]:
        """The jobs waiting for a worker, and how long the oldest has waited (0 when none)."""
        count, oldest_ms = await self._count_waiting(
            keys=[default_queue_name], args=[int(time.time() * 1000), in_progress_key_prefix]
        )
        if not count:
            return 0, 0.0
        return int(count), max(0.0, time.time() - int(oldest_ms) / 1000)


class RedisOrder:
    """Latest wins per subject, and one delivery per subject at a time, across processes.

    Arrival numbers come from the intake (the order GitHub's deliveries were accepted in, by
    any web process); a worker registers the one it takes for the delivery's subject, and the
    subject's latest is the highest registered. A delivery is current while no later one has
    been taken by any worker.
    """

    def __init__(self, redis: ArqRedis, *, lease_seconds: float) -> None:
        self.redis = redis
        self.lease_seconds = lease_seconds
        self._take_latest = redis.register_script(_TAKE_LATEST)
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)

    async def arrival(self, delivery_id: str) -> int:
        """The arrival number the intake gave the delivery (a new one if it was forgotten)."""
        value = await self.redis.get(delivery_key(delivery_id))
        if value is None:
            return int(await self.redis.incr(ARRIVALS))
        return int(value)

    async def take(self, subject: str, arrival: int) -> Ticket:
        await self._take_latest(keys=[PREFIX + "latest:" + subject], args=[arrival, LATEST_TTL])
        return Ticket(subject, arrival)

    async def is_current(self, ticket: Ticket) -> bool:
        latest = await self.redis.get(PREFIX + "latest:" + ticket.subject)
        return latest is not None and int(latest) == ticket.number

    @asynccontextmanager
    async def turn(self, ticket: Ticket) -> AsyncIterator[None]:
        """Hold the subject's lock (leased, renewed while held) for the body.

        A delivery that is superseded while it waits stops waiting: the body runs without the
        lock and finds it is not current, so it posts nothing.
        """
        key, token = PREFIX + "turn:" + ticket.subject, secrets.token_hex(8)
        lease_ms = int(self.lease_seconds * 1000)
        wait = 0.01
        while not await self.redis.set(key, token, nx=True, px=lease_ms):
            if not await self.is_current(ticket):
                yield
                return
            await asyncio.sleep(wait)  # another process holds the subject: poll, backing off
            wait = min(wait * 2, 0.5)
        renewal = asyncio.create_task(self._keep(key, token, lease_ms))
        try:
            yield
        finally:
            renewal.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewal
            await self._release(keys=[key], args=[token])

    async def _keep(self, key: str, token: str, lease_ms: int) -> None:
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            try:
                await self._renew(keys=[key], args=[token, lease_ms])
            except RedisError as exc:  # a blip: the next renewal may still be in time
                log.warning("subject lock renewal failed: %r", exc)


class RedisClaims:
    """The commits that have our check run, across processes, each owned by one delivery."""

    def __init__(self, redis: ArqRedis) -> None:
        self.redis = redis
        self._claim = redis.register_script(_CLAIM)
        self._release = redis.register_script(_RELEASE)

    def for_delivery(self, delivery_id: str) -> Claims:
        return _DeliveryClaims(self, delivery_id)

    async def claim(self, owner: str, repository: str, sha: str, *, force: bool) -> bool:
        key = f"{PREFIX}claim:{repository}@{sha}"
        return bool(await self._claim(keys=[key], args=[owner, CLAIM_TTL, "1" if force else "0"]))

    async def release(self, owner: str, repository: str, sha: str) -> None:
        # Only the owner's: a forced re-run may have taken the claim over meanwhile.
        await self._release(keys=[f"{PREFIX}claim:{repository}@{sha}"], args=[owner])


class _DeliveryClaims:
    def __init__(self, store: RedisClaims, delivery_id: str) -> None:
        self._store = store
        self._delivery_id = delivery_id

    async def claim(self, repository: str, sha: str, *, force: bool = False) -> bool:
        """True if this delivery should create the check run (a retry of it keeps its claim)."""
        return await self._store.claim(self._delivery_id, repository, sha, force=force)

    async def release(self, repository: str, sha: str) -> None:
        await self._store.release(self._delivery_id, repository, sha)


class JobLease:
    """One try's hold on its job: arq's in-progress key, holding this try's token, leased.

    arq sets the key (to ``1``) when a worker starts the job, for ``in_progress_timeout_s``,
    which ``bot.app.worker`` sets to the lease: a worker that dies at any point after that
    leaves the job to another within a lease. The try then puts its own token there
    (:meth:`take`) and renews it every third of the lease while it runs. A try whose worker
    stalled past the lease may find another worker's token: it has lost the job, and
    :meth:`check`, awaited before each write to GitHub, raises ``LeaseLost``.
    """

    def __init__(
        self, redis: ArqRedis, job_id: str, lease_seconds: float, *, reads: Sequence[str] = ()
    ) -> None:
        self._redis = redis
        # What a job reads as it starts (its body, its arrival) costs no round trip of its own.
        self._reads = list(reads)
        self.read: list[bytes | None] = []
        self._key = in_progress_key_prefix + job_id
        self._token = secrets.token_hex(8)
        self._lease_ms = int(lease_seconds * 1000)
        self._take = redis.register_script(_TAKE_JOB)
        self._renew = redis.register_script(_RENEW)
        self._task: asyncio.Task[Any] | None = None

    async def take(self) -> bool:
        """Put this try's token on the job; False if another try already has. The keys given
        as ``reads`` are read right after, in the same round trip, into :attr:`read`."""
        for _ in range(2):
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.evalsha(self._take.sha, 1, self._key, self._token, str(self._lease_ms))
                for key in self._reads:
                    pipe.get(key)
                replies = await pipe.execute(raise_on_error=False)
            if not isinstance(replies[0], NoScriptError):
                break
            # Redis restarted or flushed its scripts: nothing was taken; load it, once more.
            await self._redis.script_load(_TAKE_JOB)
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        self.read = list(replies[1:])
        return bool(replies[0])

    async def check(self) -> None:
        """Raises ``LeaseLost`` unless the job still holds this try's token."""
        if await self._redis.get(self._key) != self._token.encode():
            raise LeaseLost(f"{self._key} no longer holds this worker's token")

    async def __aenter__(self) -> JobLease:
        self._task = asyncio.create_task(self._keep())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _keep(self) -> None:
        while True:
            await asyncio.sleep(self._lease_ms / 3000)
            try:
                if not await self._renew(keys=[self._key], args=[self._token, self._lease_ms]):
                    return  # taken over: the next check before a write says so
            except RedisError as exc:  # a blip: the next renewal may still be in time
                log.warning("job lease renewal failed: %r", exc)


async def drop_job_keys(redis: ArqRedis, delivery_id: str) -> None:
    """Its job has ended (not to be tried again): its body, its run-again mark and the mark
    of an earlier job of it given up are of no more use."""
    await redis.delete(body_key(delivery_id), rerun_key(delivery_id), given_up_key(delivery_id))


async def plan_rerun(redis: ArqRedis, delivery_id: str, next_try: int, delay: float) -> None:
    """Marks the job's try ``next_try`` as its planned run again, and keeps the job and its
    body for the delay and a day more, as long as a queued job: else they could expire before
    the run again (the delay may be a day), and arq would drop the job as expired."""
    ttl_ms = int(delay * 1000) + JOB_EXPIRES_MS
    async with redis.pipeline(transaction=True) as pipe:
        pipe.set(rerun_key(delivery_id), next_try, px=ttl_ms)
        pipe.pexpire(job_key_prefix + delivery_id, ttl_ms)
        pipe.pexpire(body_key(delivery_id), ttl_ms)
        await pipe.execute()


async def forget(redis: ArqRedis, delivery_id: str) -> None:
    """A delivery that was not processed: a redelivery of it will be accepted again."""
    await redis.delete(delivery_key(delivery_id))


async def unqueue(redis: ArqRedis, subject: str, event: str, delivery_id: str) -> None:
    """The delivery's job goes back to the queue to run later (``bot.app.reruns``): the
    subject's next delivery takes a place of its own at the back, not this job's deferred
    one (the intake puts a delivery in the place of its subject's waiting job)."""
    release = redis.register_script(_RELEASE)
    await release(keys=[PREFIX + "queued:" + subject], args=[f"{event} {delivery_id}"])

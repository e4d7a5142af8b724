"""CPU-heavy work (the engine, review diffs, config parsing) in worker processes.

A pull request's files can keep the engine busy for seconds (a 2,000-job workflow took 9 s
to analyse and, before the per-finding diffs were made local, minutes to render). On the
event loop that stalled every acknowledgement, and in a thread it still held the GIL. In
another process it stalls nothing, and it can be stopped: a job that is cancelled (a newer
delivery about the same pull request arrived) or that runs past its delivery's budget has
its process killed, and a fresh one takes its place on the next job. A process that dies
(SIGKILLed by an operator, chosen by the out-of-memory killer) costs one log line: its job
runs again in a new process, and is given up only if that one dies too.

:class:`ProcessPool` owns at most ``size`` processes, started on first use from a fork server
that has already imported the engine (a new process costs a fork, not an interpreter start).
:class:`Offload` is one delivery's view of it: its budget of CPU seconds across all its jobs,
and what cancels them.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import multiprocessing
import multiprocessing.util
import os
import select
import signal
import threading
import time
import weakref
from collections.abc import Awaitable, Callable
from multiprocessing.connection import Connection
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

# Imported once by the fork server, so that every worker starts with them loaded.
PRELOAD = ["bot.app.workflows", "bot.app.review", "bot.app.check_output"]


class AnalysisTimeout(Exception):
    """The delivery used up its budget of CPU seconds; its running job was killed."""


class Superseded(Exception):
    """A newer delivery about the same subject arrived; this one's job was killed."""


class AnalysisProcessDied(Exception):
    """The process running a job ended before answering (the job's second, when raised)."""

    def __init__(self, pid: int | None, how: str, job: str) -> None:
        super().__init__(f"analysis process {pid} {how} before answering {job}")
        self.how = how


class _PipeClosed(Exception):
    """The worker's pipe broke: its process has ended (never an error the job raised)."""


def _serve(conn: Connection) -> None:
    """A worker process: run jobs until the server closes the pipe (or kills it)."""
    # Ctrl-C, and the SIGTERM that Heroku, systemd (KillMode=control-group) and `kill 0` send
    # to every process of the group, are the server's to act on: it drains, then kills its
    # workers (ProcessPool.close). Ended by the signal, a worker failed the job being drained.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    threading.Thread(target=_exit_when_server_gone, args=(conn.fileno(),), daemon=True).start()
    while True:
        try:
            fn, args, kwargs = conn.recv()
        except (EOFError, OSError):
            return
        try:
            answer: tuple[str, Any] = ("ok", fn(*args, **kwargs))
        except Exception as exc:
            answer = ("error", exc)
        try:
            conn.send(answer)
        except Exception as exc:  # an unpicklable result or exception
            conn.send(("error", RuntimeError(f"job {fn.__name__} failed: {exc!r}")))


def _exit_when_server_gone(fd: int) -> None:
    """A server killed outright (SIGKILL, out of memory) kills no worker: its end of the pipe
    closing is the sign, seen here also in the middle of a job, which nothing else reads."""
    poller = select.poll()
    poller.register(fd, select.POLLRDHUP)  # the peer's close, never a job arriving
    poller.poll()
    os._exit(1)


# Every worker process started and not yet known dead. At the interpreter's exit
# multiprocessing ends daemon processes with SIGTERM, which workers ignore, then waits for
# them: a server that exits without ProcessPool.close() would wait for ever.
_STARTED: weakref.WeakSet[Any] = weakref.WeakSet()


def _kill_started() -> None:
    for process in list(_STARTED):
        with contextlib.suppress(Exception):
            if process.is_alive():  # a dead one's pid may be another process's by now
                process.kill()


# atexit runs the last registered first: this before multiprocessing's own (its import
# above registers it).
atexit.register(_kill_started)


class _Worker:
    def __init__(self, context: Any) -> None:
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_serve, args=(child,), daemon=True)
        self._child = child
        _STARTED.add(self.process)

    async def start(self) -> None:
        # The first start launches the fork server (an interpreter start and the imports):
        # off the event loop.
        await asyncio.to_thread(self.process.start)
        self._child.close()

    async def call(self, fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> T:
        try:
            status, value = await self._exchange((fn, args, kwargs))
        except (EOFError, OSError) as exc:
            raise _PipeClosed() from exc
        if status == "error":
            raise value
        result: T = value
        return result

    async def _exchange(self, job: tuple[Any, ...]) -> tuple[str, Any]:
        await asyncio.to_thread(self.conn.send, job)
        loop = asyncio.get_running_loop()
        readable: asyncio.Future[None] = loop.create_future()
        fd = self.conn.fileno()

        def ready() -> None:
            if not readable.done():
                readable.set_result(None)

        loop.add_reader(fd, ready)
        try:
            await readable
        finally:
            loop.remove_reader(fd)
        answer: tuple[str, Any] = await asyncio.to_thread(self.conn.recv)
        return answer

    def kill(self) -> None:
        with contextlib.suppress(Exception):
            self.process.kill()
        with contextlib.suppress(Exception):
            self.conn.close()


def _how_it_ended(exitcode: int | None) -> str:
    if exitcode is None:
        return "closed its pipe (then killed)"
    if exitcode < 0:
        with contextlib.suppress(ValueError):
            return f"was killed by {signal.Signals(-exitcode).name}"
        return f"was killed by signal {-exitcode}"
    return f"exited with status {exitcode}"


class ProcessPool:
    """At most ``size`` worker processes; a job waits for a free one."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._free = asyncio.Semaphore(size)
        self._idle: list[_Worker] = []
        self._context: Any = None
        self._reaping: set[asyncio.Task[None]] = set()
        # For /metrics and the tests: processes started, and killed mid-job.
        self.started = 0
        self.killed = 0
        self.running = 0

    def _mp_context(self) -> Any:
        if self._context is None:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(PRELOAD)
            self._context = context
        return self._context

    async def run(
        self,
        fn: Callable[..., T],
        *args: Any,
        timeout: float | None = None,
        cancel: Callable[[], Awaitable[None]] | None = None,
        **kwargs: Any,
    ) -> T:
        """``fn(*args, **kwargs)`` in a worker process (``fn`` must be importable by name).

        Raises ``AnalysisTimeout`` after ``timeout`` seconds and ``Superseded`` once ``cancel()``
        completes; either way, and if this task is cancelled, the worker is killed. A job whose
        process dies runs again in a new one; ``AnalysisProcessDied`` if that one dies too.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        async with self._free:
            stop = asyncio.ensure_future(cancel()) if cancel is not None else None
            try:
                try:
                    return await self._run_once(fn, args, kwargs, deadline, stop, reuse=True)
                except AnalysisProcessDied as died:
                    # Killed from outside (an operator, the out-of-memory killer), the job may
                    # well be innocent. A new process, not an idle one: the same cause may have
                    # ended those too.
                    log.warning("%s; running the job again in a new process", died)
                try:
                    return await self._run_once(fn, args, kwargs, deadline, stop, reuse=False)
                except AnalysisProcessDied as died:
                    log.warning("%s, the job's second; given up", died)
                    raise
            finally:
                if stop is not None:
                    stop.cancel()

    async def _run_once(
        self,
        fn: Callable[..., T],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        deadline: float | None,
        stop: asyncio.Future[Any] | None,
        *,
        reuse: bool,
    ) -> T:
        timeout = None if deadline is None else deadline - time.monotonic()
        if timeout is not None and timeout <= 0:
            raise AnalysisTimeout()
        worker = self._idle.pop() if reuse and self._idle else None
        if worker is None:
            worker = _Worker(self._mp_context())
            await worker.start()
            self.started += 1
        job = asyncio.ensure_future(worker.call(fn, args, kwargs))
        self.running += 1
        try:
            done, _ = await asyncio.wait(
                [job] if stop is None else [job, stop],
                timeout=timeout,
                return_when=asyncio.FIRST_COMPLETED,
            )
        except BaseException:  # this delivery's task was cancelled
            job.cancel()
            self._kill(worker)
            raise
        finally:
            self.running -= 1
        if job in done:
            error = job.exception()
            if isinstance(error, _PipeClosed):
                raise await self._ended(worker, fn.__name__) from None
            self._idle.append(worker)  # a job that raised leaves its worker ready
            if error is not None:
                raise error
            return job.result()
        job.cancel()
        self._kill(worker)
        raise Superseded() if stop is not None and stop in done else AnalysisTimeout()

    async def _ended(self, worker: _Worker, job: str) -> AnalysisProcessDied:
        """How the process of a worker whose pipe broke ended."""
        try:
            # It closes its pipe as it exits, so this returns at once; the bound is for one
            # that closed it and lives on.
            await asyncio.to_thread(worker.process.join, 5)
        finally:
            worker.kill()
        return AnalysisProcessDied(worker.process.pid, _how_it_ended(worker.process.exitcode), job)

    def _kill(self, worker: _Worker) -> None:
        worker.kill()
        self.killed += 1
        # Reap the killed process off the event loop so that it leaves no zombie.
        task = asyncio.ensure_future(asyncio.to_thread(worker.process.join, 5))
        self._reaping.add(task)
        task.add_done_callback(self._reaping.discard)

    async def close(self) -> None:
        for worker in self._idle:
            worker.kill()
        for worker in self._idle:
            await asyncio.to_thread(worker.process.join, 5)
        self._idle.clear()
        if self._reaping:
            await asyncio.gather(*self._reaping, return_exceptions=True)


class Offload:
    """One delivery's jobs: a shared budget of ``seconds``, cancelled when ``superseded``
    completes (a newer delivery about the same subject)."""

    def __init__(
        self,
        pool: ProcessPool | None,
        seconds: float,
        superseded: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.pool = pool
        self.remaining = seconds
        self.seconds = seconds
        self._superseded = superseded

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """An analysis (the engine, the configuration): charged to the delivery's budget."""
        if self.remaining <= 0:
            raise AnalysisTimeout()
        started = time.monotonic()
        try:
            return await self._run(fn, args, kwargs, self.remaining)
        finally:
            self.remaining -= time.monotonic() - started

    async def render(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Rendering what was analysed (linear in the findings): a timeout of its own, so
        that a delivery whose analysis ran out of time can still say so."""
        return await self._run(fn, args, kwargs, self.seconds)

    async def _run(
        self, fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any], timeout: float
    ) -> T:
        if self.pool is None:  # no pool (a tool, a unit test): run here
            return fn(*args, **kwargs)
        return await self.pool.run(fn, *args, timeout=timeout, cancel=self._superseded, **kwargs)

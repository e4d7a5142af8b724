"""Bounds on the connections anyone who can reach the port can hold open.

aiohttp gives a request no deadline for its headers and caps no number of connections: 1,050
half-sent requests held 1,050 file descriptors until the process could accept no more, and a
real delivery timed out. :class:`ConnectionGuard` sits between the listening socket and
aiohttp's ``RequestHandler``, one per connection, and holds two bounds:

* a connection that has not completed a request's headers within ``header_seconds`` of
  connecting, or of the end of its previous request, is closed (GitHub sends a delivery at
  once). Counted ``header_timeout``, or ``idle`` for a kept-alive connection that sent nothing
  after its last request;
* at most ``max_connections`` are open. One more makes the oldest connection still waiting for
  headers close (``evicted``): a connection that is stalled before its headers costs the
  server a descriptor and nothing else, so it is the one to lose; a delivery sends its
  headers at once and is never waiting long. Connections whose headers are complete are left
  alone: their bodies are bounded by ``BodyReader`` (reads at once, bytes, seconds) and the
  handlers answer at once. Only when every open connection is in a request is the new one
  closed at once (``refused``).

Closings are counted in ``wheelwatch_connections_closed_total`` and logged through
:class:`~bot.app.log_limits.RepeatedLines`: a flood is a few lines and a count.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from yarl import URL

from bot.app.log_limits import RepeatedLines
from bot.app.metrics import Metrics

log = logging.getLogger(__name__)

RequestHandling = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]

# The cap leaves half the process's descriptors to the rest: GitHub and Redis connections,
# the analysis processes' pipes, logs, and the sockets asyncio has accepted but not yet handed
# to the guard (up to the listen backlog, 128, in one burst).
FD_SHARE = 2


def connection_cap(configured: int, fd_limit: int) -> int:
    """``configured``, lowered to half the process's soft RLIMIT_NOFILE (negative: none)."""
    if fd_limit < 0:
        return configured
    return min(configured, max(1, fd_limit // FD_SHARE))


class ConnectionGuard:
    def __init__(self, *, max_connections: int, header_seconds: float, metrics: Metrics) -> None:
        self.max_connections = max_connections
        self.header_seconds = header_seconds
        self._metrics = metrics
        # Open connections by their aiohttp handler (requests know theirs as request.protocol).
        self._open: dict[RequestHandler, _Connection] = {}
        # Connections waiting for a request's headers, oldest first, with their deadlines.
        # Every wait lasts header_seconds, so the order of deadlines is the order of insertion
        # (a dict keeps it, and costs less per request than an OrderedDict).
        self._waiting: dict[_Connection, float] = {}
        self._expiry: asyncio.TimerHandle | None = None
        metrics.open_connections(lambda: len(self._open))

    def connection(self, server: web.Server) -> asyncio.Protocol:
        """The protocol for one accepted connection (a ``loop.create_server`` factory)."""
        return _Connection(self, server)

    def handling(self, handle: RequestHandling) -> RequestHandling:
        """``handle`` (aiohttp's request handler, the application), then the connection waits
        for the next request's headers. (Not a middleware: an application with one makes
        aiohttp build and call a middleware chain for every request: in an ad-hoc run a no-op
        middleware alone cost more CPU per request than everything the guard does.)"""

        async def handle_then_wait(request: web.BaseRequest) -> web.StreamResponse:
            try:
                return await handle(request)
            finally:
                connection = self._open.get(request.protocol)
                if connection is not None:
                    connection.finished += 1
                    # A request that asked to close its connection leaves nothing to wait for.
                    if connection.finished >= connection.started and request.keep_alive:
                        self._wait(connection)

        return handle_then_wait

    def close(self) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None

    def _admit(self, connection: _Connection, handler: RequestHandler) -> bool:
        if len(self._open) >= self.max_connections:
            if not self._waiting:
                self._closed("refused", connection)
                return False
            oldest = next(iter(self._waiting))
            self._close(oldest, "evicted")
        self._open[handler] = connection
        return True

    def _wait(self, connection: _Connection) -> None:
        loop = asyncio.get_running_loop()
        connection.partial = False
        deadline = loop.time() + self.header_seconds
        self._waiting.pop(connection, None)  # to the end: it is now the newest
        self._waiting[connection] = deadline
        if self._expiry is None:
            self._expiry = loop.call_at(deadline, self._expire)

    def _busy(self, connection: _Connection) -> None:
        # Left in place, the timer finds nothing due and moves to the next deadline.
        self._waiting.pop(connection, None)

    def _expire(self) -> None:
        self._expiry = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        while self._waiting:
            connection, deadline = next(iter(self._waiting.items()))
            if deadline > now:
                self._expiry = loop.call_at(deadline, self._expire)
                return
            idle = connection.finished > 0 and not connection.partial
            self._close(connection, "idle" if idle else "header_timeout")

    def _close(self, connection: _Connection, reason: str) -> None:
        self._forget(connection)
        assert connection.handler is not None
        connection.handler.force_close()
        self._closed(reason, connection)

    def _closed(self, reason: str, connection: _Connection) -> None:
        self._metrics.connection_closed(reason)
        peer = connection.peer()
        if reason == "idle":
            log.debug(
                "closed a kept-alive connection from %s, idle for %gs", peer, self.header_seconds
            )
        elif reason == "header_timeout":
            log.info(
                "closed a connection from %s: no complete request headers within %gs",
                peer,
                self.header_seconds,
            )
        elif reason == "evicted":
            log.warning(
                "%d connections open (WHEELWATCH_MAX_CONNECTIONS): closed the oldest one still "
                "waiting for headers to accept one from %s",
                self.max_connections,
                peer,
            )
        else:
            log.warning(
                "%d connections open (WHEELWATCH_MAX_CONNECTIONS), each in a request: "
                "refused one from %s",
                self.max_connections,
                peer,
            )

    def _forget(self, connection: _Connection) -> None:
        self._waiting.pop(connection, None)
        if connection.handler is not None:
            self._open.pop(connection.handler, None)


class _Connection(asyncio.Protocol):
    """One connection: hands every event to aiohttp's handler, and tells the guard when a
    request's headers are complete.

    Relies on aiohttp's ``RequestHandler`` (3.9 to 3.14) counting the messages its parser has
    completed in ``_request_count``, which ``data_received`` increments as soon as a request's
    headers are parsed, before the request is handled: read right after that call, it says
    without a race whether this connection is still waiting for headers.
    """

    __slots__ = ("finished", "guard", "handler", "partial", "server", "started", "transport")

    def __init__(self, guard: ConnectionGuard, server: web.Server) -> None:
        self.guard = guard
        self.server = server
        self.handler: RequestHandler | None = None
        self.transport: asyncio.BaseTransport | None = None
        # Requests whose headers were complete, and requests handled, on this connection.
        self.started = 0
        self.finished = 0
        # Bytes of a request's headers came since the connection began waiting.
        self.partial = False

    def peer(self) -> str:
        """The client's address, for a log line."""
        address = self.transport.get_extra_info("peername") if self.transport else None
        return str(address[0]) if isinstance(address, tuple) else "?"

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        handler = self.server()
        if not self.guard._admit(self, handler):
            transport.close()  # nothing was read or written: the descriptor goes at once
            return
        self.handler = handler
        handler.connection_made(transport)
        self.guard._wait(self)

    def data_received(self, data: bytes) -> None:
        handler = self.handler
        if handler is None:
            return
        handler.data_received(data)
        started = handler._request_count
        if started != self.started:
            self.started = started
            self.guard._busy(self)
        elif self.finished >= self.started:
            self.partial = True

    def eof_received(self) -> None:
        # aiohttp's handler returns None too: the transport closes itself after a half-close.
        if self.handler is not None:
            self.handler.eof_received()

    def connection_lost(self, exc: BaseException | None) -> None:
        self.guard._forget(self)
        if self.handler is not None:
            self.handler.connection_lost(exc)

    def pause_writing(self) -> None:
        if self.handler is not None:
            self.handler.pause_writing()

    def resume_writing(self) -> None:
        if self.handler is not None:
            self.handler.resume_writing()


class GuardedSite(web.BaseSite):
    """aiohttp's TCPSite, except that each connection passes through a ConnectionGuard."""

    def __init__(
        self, runner: web.BaseRunner, guard: ConnectionGuard, host: str, port: int
    ) -> None:
        super().__init__(runner)
        self._guard = guard
        self._host = host
        self._port = port

    @property
    def name(self) -> str:
        port = self._port
        if isinstance(self._server, asyncio.Server) and self._server.sockets:
            port = self._server.sockets[0].getsockname()[1]
        return str(URL.build(scheme="http", host=self._host, port=port))

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: self._guard.connection(server), self._host, self._port, backlog=self._backlog
        )


async def serve_guarded(
    app: web.Application, guard: ConnectionGuard, *, host: str, port: int, **runner_options: Any
) -> web.AppRunner:
    """``app`` listening on ``host:port`` through ``guard``; ``runner.cleanup()`` stops it."""
    # The guard's lines are bounded wherever the process sends its logs.
    repeated = RepeatedLines()
    log.addFilter(repeated)
    app.on_cleanup.append(lambda _app: _stop(guard, repeated))
    runner = web.AppRunner(app, **runner_options)
    await runner.setup()
    server = runner.server
    assert server is not None
    # Each connection's RequestHandler takes this when the guard creates it (aiohttp 3.9-3.14).
    server.request_handler = guard.handling(server.request_handler)
    try:
        await GuardedSite(runner, guard, host, port).start()
    except BaseException:
        await runner.cleanup()  # the application has started: stop it
        raise
    return runner


async def _stop(guard: ConnectionGuard, repeated: RepeatedLines) -> None:
    guard.close()
    log.removeFilter(repeated)

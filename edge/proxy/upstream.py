"""Persistent keep-alive connections to upstream targets: the protocol and the pool per target.

A :class:`TargetPool` keeps the idle connections of one target (``scheme://host:port``), last
used first, at most ``max_idle`` of them, each for at most ``UPSTREAM_IDLE_TIMEOUT``. Pools
outlive config versions (the proxy keeps one per target address), so a config swap keeps the
warm connections of the targets it still uses.

An :class:`UpstreamConnection` serves one exchange at a time. Each exchange gets a fresh
``HttpResponseParser`` whose callbacks are the exchange's own methods (no state carries over
from a previous response, ``HEAD`` responses included). The connection passes write-buffer
pressure to the exchange, which pauses reading the client: request bodies stream without piling
up in the edge.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from typing import TYPE_CHECKING, Protocol, cast

import structlog
from httptools import (
    HttpParserCallbackError,
    HttpParserError,
    HttpParserUpgrade,
    HttpResponseParser,
)

from edgeway.edge.proxy.limits import UPSTREAM_IDLE_TIMEOUT, WRITE_HIGH_WATER

if TYPE_CHECKING:
    from edgeway.edge.proxy.tunnel import Tunnel

__all__ = ["TargetPool", "UpstreamConnection", "UpstreamUser"]

log = structlog.get_logger(__name__)


class UpstreamUser(Protocol):
    """What a connection reports to the exchange using it (:class:`~.exchange.Exchange`)."""

    def upstream_lost(self, conn: UpstreamConnection, exc: Exception | None) -> None: ...

    def upstream_invalid(self, conn: UpstreamConnection, exc: Exception) -> None: ...

    def upstream_paused(self, paused: bool) -> None: ...

    def flush(self) -> None: ...


class UpstreamConnection(asyncio.Protocol):
    """One TCP (or TLS) connection to a target; see the module docstring."""

    def __init__(self, pool: TargetPool) -> None:
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.user: UpstreamUser | None = None
        self.parser: HttpResponseParser | None = None
        self.uses = 0
        self.idle_since = 0.0
        self.closed = False
        self.reading_paused = False
        self.tunnel: Tunnel | None = None
        """Set once the upstream switched protocols: bytes are relayed, not parsed."""

    # -- asyncio callbacks ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but they are Transports
        self.transport = transport = cast(asyncio.Transport, transport)
        transport.set_write_buffer_limits(high=WRITE_HIGH_WATER)

    def data_received(self, data: bytes) -> None:
        tunnel = self.tunnel
        if tunnel is not None:
            tunnel.from_upstream(data)
            return
        user, parser = self.user, self.parser
        if user is None or parser is None:
            self.close()  # an idle connection must not talk
            return
        try:
            parser.feed_data(data)
        except HttpParserCallbackError as exc:  # a bug of ours, not the upstream's
            cause = exc.__context__ or exc
            log.error("response handling failed", error=repr(cause), exc_info=cause)
            user.upstream_invalid(self, exc)
        except HttpParserUpgrade as exc:
            tunnel = self.tunnel
            if tunnel is not None:  # switched: the bytes behind the 101 are tunnelled
                if rest := data[exc.args[0] :]:
                    tunnel.from_upstream(rest)
                return
            user.upstream_invalid(self, exc)  # 101 to a request that asked for no upgrade
        except HttpParserError as exc:
            user.upstream_invalid(self, exc)
        user.flush()

    def eof_received(self) -> bool:
        return False  # close our side too; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.pool.forget(self)
        if self.tunnel is not None:
            self.tunnel.upstream_closed()
            return
        user = self.user
        if user is not None:
            self.user = None
            user.upstream_lost(self, exc)

    def pause_writing(self) -> None:
        if self.tunnel is not None:
            self.tunnel.upstream_paused(True)
        elif self.user is not None:
            self.user.upstream_paused(True)

    def resume_writing(self) -> None:
        if self.tunnel is not None:
            self.tunnel.upstream_paused(False)
        elif self.user is not None:
            self.user.upstream_paused(False)

    # -- used by the exchange ---------------------------------------------------------------

    def begin(self, user: UpstreamUser, parser_protocol: object) -> None:
        """Serve ``user`` next, parsing its response with callbacks on ``parser_protocol``."""
        self.user = user
        self.parser = HttpResponseParser(parser_protocol)
        self.uses += 1

    def write(self, data: bytes) -> None:
        if not self.closed and self.transport is not None:
            self.transport.write(data)

    def set_reading(self, paused: bool) -> None:
        """Pause or resume reading the upstream (the client is not keeping up)."""
        if paused == self.reading_paused or self.closed or self.transport is None:
            return
        self.reading_paused = paused
        if paused:
            self.transport.pause_reading()
        else:
            self.transport.resume_reading()

    def done(self, reusable: bool) -> None:
        """The exchange is over: back to the pool when ``reusable``, else closed."""
        self.user = None
        self.parser = None
        if reusable and not self.closed:
            if self.reading_paused:
                self.set_reading(False)
            self.pool.release(self)
        else:
            self.close()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            if self.transport is not None:
                self.transport.close()

    def abort(self) -> None:
        """Close at once, dropping unsent data (a half-sent request must not be finished)."""
        self.closed = True
        if self.transport is not None:
            self.transport.abort()


class TargetPool:
    """The idle keep-alive connections of one target; see the module docstring."""

    def __init__(
        self, key: str, host: str, port: int, tls: ssl.SSLContext | None, max_idle: int
    ) -> None:
        self.key = key
        self.host = host
        self.port = port
        self.tls = tls
        self.max_idle = max_idle
        self.idle: list[UpstreamConnection] = []
        self.opened = 0
        """Connections opened so far (a metric, and what keep-alive tests count)."""
        self.retired = False

    def take(self) -> UpstreamConnection | None:
        """An idle connection, most recently used first, or ``None``."""
        idle = self.idle
        while idle:
            conn = idle.pop()
            if not conn.closed:
                return conn
        return None

    async def connect(self, limit: float) -> UpstreamConnection:
        """A new connection; ``TimeoutError`` after ``limit`` seconds, ``OSError`` when the
        target refuses or cannot be reached."""
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(limit):
            _, conn = await loop.create_connection(
                lambda: UpstreamConnection(self),
                self.host,
                self.port,
                ssl=self.tls,
                server_hostname=self.host if self.tls is not None else None,
            )
        self.opened += 1
        return conn

    def release(self, conn: UpstreamConnection) -> None:
        """Keep ``conn`` for reuse, or close it when the pool is full or retired."""
        if self.retired or len(self.idle) >= self.max_idle:
            conn.close()
            return
        conn.idle_since = time.monotonic()
        self.idle.append(conn)

    def forget(self, conn: UpstreamConnection) -> None:
        """``conn`` closed: drop it from the idle list."""
        with contextlib.suppress(ValueError):
            self.idle.remove(conn)

    def sweep(self, now: float) -> None:
        """Close connections idle for longer than ``UPSTREAM_IDLE_TIMEOUT``."""
        idle = self.idle
        while idle and now - idle[0].idle_since > UPSTREAM_IDLE_TIMEOUT:
            idle.pop(0).close()

    def close(self) -> None:
        """Retire the pool: close idle connections now, busy ones when they are released."""
        self.retired = True
        while self.idle:
            self.idle.pop().close()

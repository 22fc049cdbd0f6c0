"""The client side: one asyncio Protocol per client connection, parsing with llhttp.

A :class:`ClientConnection` feeds what it reads to its ``HttpRequestParser``; the parser's
callbacks build each request's head and stream its body into the request's exchange. Requests
are answered in order: a pipelined request that arrives while another is in flight waits in a
queue (and reading pauses), so responses never interleave. Keep-alive follows HTTP/1.1 (and
HTTP/1.0's ``Connection: keep-alive``); a malformed request is answered 400 and the connection
closed.

Reading the client pauses for three independent reasons (a bit each): a queued pipelined
request, an upstream that does not take the request body as fast as it comes, and a body
buffered while the upstream connection opens. Reading resumes when none is left. When the
client does not read its response fast enough, the exchange's upstream stops being read.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import cast

import structlog
from httptools import (
    HttpParserCallbackError,
    HttpParserError,
    HttpParserUpgrade,
    HttpRequestParser,
)

from edgeway.edge.proxy.errors import BadRequest, EdgeError, HeadersTooLarge, RequestTimeout
from edgeway.edge.proxy.exchange import Exchange
from edgeway.edge.proxy.forward import ProxyExchange
from edgeway.edge.proxy.limits import (
    HEAD_TIMEOUT,
    KEEPALIVE_TIMEOUT,
    MAX_HEAD_BYTES,
    WRITE_HIGH_WATER,
)
from edgeway.edge.proxy.local import CLOSE, render_error
from edgeway.edge.proxy.request import Peer, RequestHead, new_request_id
from edgeway.edge.proxy.runtime import Runtime

__all__ = ["ClientConnection"]

log = structlog.get_logger(__name__)

PAUSE_QUEUE = 1


class ClientConnection(asyncio.Protocol):
    """One client connection; see the module docstring."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.transport: asyncio.Transport | None = None
        self.parser = HttpRequestParser(self)
        self.peer = Peer("")
        self.url = b""
        self.raw: list[tuple[bytes, bytes]] = []
        self.in_head = False
        self.head_started = 0.0
        self.head_bytes = 0
        """Bytes read while a head is incomplete: bounds what the parser buffers."""
        self.head_size = 0
        """Bytes of the request line and headers of the head being read."""
        self.reading: Exchange | None = None
        """The exchange whose request is being read."""
        self.active: Exchange | None = None
        """The exchange being answered (requests are answered in order)."""
        self.queue: deque[Exchange] = deque()
        self.pauses = 0
        self.write_paused = False
        self.closing = False
        self.broken = False
        self.feeding = False
        self.idle_since = 0.0
        self.discard_since = 0.0
        """When the request in flight was answered while its body was still coming."""

    # -- asyncio callbacks ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but they are Transports
        self.transport = transport = cast(asyncio.Transport, transport)
        transport.set_write_buffer_limits(high=WRITE_HIGH_WATER)
        peer = transport.get_extra_info("peername")
        self.peer = Peer(peer[0] if isinstance(peer, tuple) and peer else "")
        assert self.rt.loop is not None
        self.idle_since = self.rt.loop.time()
        self.rt.connections.add(self)

    def data_received(self, data: bytes) -> None:
        if self.broken:
            return
        self.feeding = True
        try:
            self.parser.feed_data(data)
        except HttpParserUpgrade:
            self.broken = self.closing = True  # upgrades come with issue 4: close after
        except HttpParserCallbackError as exc:  # a bug of ours, not the client's
            cause = exc.__context__ or exc
            log.error("request handling failed", error=repr(cause), exc_info=cause)
            self.malformed(EdgeError())
        except HttpParserError as exc:
            self.malformed(BadRequest(f"malformed request: {exc}"))
        finally:
            self.feeding = False
        active = self.active
        if active is not None:
            active.flush_up()
            active.flush()
        if self.in_head and not self.broken:
            self.head_bytes += len(data)
            if self.head_bytes > MAX_HEAD_BYTES:
                self.malformed(HeadersTooLarge())

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        self.rt.connection_closed(self)
        active, queued = self.active, list(self.queue)
        self.active = None
        self.queue.clear()
        if active is not None:
            active.client_lost()
        for exchange in queued:
            exchange.done = True

    def pause_writing(self) -> None:
        self.write_paused = True
        active = self.active
        if active is not None and active.up is not None:
            active.up.set_reading(True)

    def resume_writing(self) -> None:
        self.write_paused = False
        active = self.active
        if active is not None and active.up is not None:
            active.up.set_reading(False)

    # -- HttpRequestParser callbacks ------------------------------------------------------------

    def on_message_begin(self) -> None:
        self.in_head = True
        self.url = b""
        self.raw = []
        self.head_bytes = 0
        self.head_size = 0
        assert self.rt.loop is not None
        self.head_started = self.rt.loop.time()

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        if self.in_head:  # after the head: chunked trailers, not forwarded
            self.raw.append((name, value))
            self.head_size += len(name) + len(value)

    def on_headers_complete(self) -> None:
        self.in_head = False
        parser = self.parser
        head = RequestHead(
            self.peer, parser.get_method(), self.url, self.raw,
            parser.get_http_version() == "1.0", parser.should_keep_alive(),
        )  # fmt: skip
        if self.head_size + len(self.url) > MAX_HEAD_BYTES:
            head.error = HeadersTooLarge()
        exchange = ProxyExchange(self, head)
        self.reading = exchange
        if self.closing:
            exchange.done = True  # the connection ends after the exchange in flight
            self.pause(PAUSE_QUEUE)
        elif self.active is None:
            self.active = exchange
            exchange.dispatch()
        else:
            self.queue.append(exchange)
            self.pause(PAUSE_QUEUE)

    def on_body(self, body: bytes) -> None:
        if self.reading is not None:
            self.reading.request_body(body)

    def on_message_complete(self) -> None:
        exchange, self.reading = self.reading, None
        if exchange is not None:
            exchange.request_complete()

    # -- used by exchanges ------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(data)

    def pause(self, reason: int) -> None:
        if not self.pauses and self.transport is not None and not self.transport.is_closing():
            self.transport.pause_reading()
        self.pauses |= reason

    def resume(self, reasons: int) -> None:
        if self.pauses & reasons:
            self.pauses &= ~reasons
            if not self.pauses and self.transport is not None and not self.transport.is_closing():
                self.transport.resume_reading()

    def transaction_done(self, exchange: Exchange) -> None:
        """``exchange`` is answered and its request fully read: go on with the next one."""
        if exchange is not self.active:
            return
        self.active = None
        if exchange.close_after or self.closing or self.rt.draining:
            self.close()
            return
        if self.queue:
            following = self.active = self.queue.popleft()
            assert self.rt.loop is not None
            self.rt.loop.call_soon(self._dispatch_queued, following)
            return
        self.resume(PAUSE_QUEUE)
        assert self.rt.loop is not None
        self.idle_since = self.rt.loop.time()

    def _dispatch_queued(self, exchange: Exchange) -> None:
        if exchange is self.active and not exchange.done:
            if not self.queue:
                self.resume(PAUSE_QUEUE)
            exchange.dispatch()
            exchange.flush_up()
            exchange.flush()

    def close(self) -> None:
        """Close after what is already written (the current response)."""
        self.closing = True
        if self.transport is not None:
            self.transport.close()

    def malformed(self, error: EdgeError) -> None:
        """The request stream is unusable: answer ``error`` if nothing is in flight, then
        close."""
        self.broken = self.closing = True
        self.pause(PAUSE_QUEUE)
        reading, active = self.reading, self.active
        if reading is not None and reading is active:
            if reading.done:  # answered already; the rest of its body cannot be read
                self.close()
            else:
                reading.request_failed(error)
        elif active is None:
            self.write(render_error(error, new_request_id(), CLOSE, False))
            self.log_unparsed(error)
            self.close()
        # else: the exchange in flight finishes, then transaction_done closes

    def log_unparsed(self, error: EdgeError) -> None:
        access_log = self.rt.access_log
        if access_log is not None:
            access_log.log("-", self.peer.ip, "-", "-", None, error.status, 0, 0.0, None,
                           None, "", error.message)

    # -- housekeeping -----------------------------------------------------------------------

    def sweep(self, now: float) -> None:
        """Close an idle keep-alive connection past its timeout; answer 408 to a head that
        takes too long; close when the rest of an answered request's body takes too long."""
        active = self.active
        if active is None and self.reading is None and not self.in_head:
            if now - self.idle_since > KEEPALIVE_TIMEOUT:
                self.close()
        elif self.in_head and active is None and now - self.head_started > HEAD_TIMEOUT:
            self.malformed(RequestTimeout())
        elif active is not None and active.done and now - self.discard_since > HEAD_TIMEOUT:
            self.close()

    def drain(self) -> None:
        """Shutting down: close now when idle, else after the response in flight."""
        self.closing = True
        if self.active is None:
            self.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

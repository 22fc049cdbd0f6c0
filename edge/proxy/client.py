"""The client side: one asyncio Protocol per client connection, parsing with llhttp.

A :class:`ClientConnection` feeds what it reads to its ``HttpRequestParser``; the parser's
callbacks build each request's head and stream its body into the request's exchange. Requests
are answered in order: a pipelined request that arrives while another is in flight waits in a
queue (and reading pauses), so responses never interleave. Keep-alive follows HTTP/1.1 (and
HTTP/1.0's ``Connection: keep-alive``); a malformed request is answered 400 and the connection
closed.

Reading the client pauses for independent reasons (a bit each): a queued pipelined request,
an upstream that does not take the request body as fast as it comes, a body buffered while the
upstream connection opens, a WebSocket handshake waiting for the upstream's answer, a tunnel
whose upstream does not keep up. Reading resumes when none is left. When the client does not
read its response fast enough, the exchange's upstream stops being read.

Limits before routing come from the config being served (``limits``): a request target longer
than ``max_url_bytes`` is answered 414, a head larger than ``max_header_bytes`` or with more
than ``max_headers`` fields 431, as soon as the bytes read show it (the head is never buffered
past the limit), and the connection is closed. After a WebSocket handshake answered ``101``
the connection becomes a raw tunnel (:mod:`.tunnel`).
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any, Final, cast

import structlog
from httptools import (
    HttpParserCallbackError,
    HttpParserError,
    HttpParserUpgrade,
    HttpRequestParser,
)

from edgeway.edge.proxy.errors import (
    BadRequest,
    EdgeError,
    HeadersTooLarge,
    RequestTimeout,
    UriTooLong,
)
from edgeway.edge.proxy.exchange import Exchange
from edgeway.edge.proxy.forward import ProxyExchange
from edgeway.edge.proxy.limits import HEAD_TIMEOUT, KEEPALIVE_TIMEOUT, WRITE_HIGH_WATER
from edgeway.edge.proxy.local import CLOSE, render_error
from edgeway.edge.proxy.request import Peer, RequestHead, new_request_id
from edgeway.edge.proxy.runtime import Runtime
from edgeway.edge.proxy.tunnel import Tunnel

__all__ = ["ClientConnection"]

log = structlog.get_logger(__name__)

PAUSE_QUEUE: Final = 1
PAUSE_UPGRADE: Final = 8


class ClientConnection(asyncio.Protocol):
    """One client connection; see the module docstring."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.transport: asyncio.Transport | None = None
        self.parser = HttpRequestParser(self)
        self.peer = Peer("")
        self.url = b""
        self.raw: list[tuple[bytes, bytes]] = []
        self.memo: dict[object, Any] = {}
        """The policies' memo of this connection (``Request.connection_memo``)."""
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
        self.upgrading = False
        """A WebSocket handshake is on its way: the stream is not HTTP any more."""
        self.tunnel: Tunnel | None = None
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
        tunnel = self.tunnel
        if tunnel is not None:
            tunnel.from_client(data)
            return
        if self.broken:
            return
        if self.upgrading:
            self._early(data)
            return
        self.feeding = True
        try:
            self.parser.feed_data(data)
        except HttpParserUpgrade as exc:
            self.upgrade_requested(data[exc.args[0] :])
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
            limits = self.rt.limits
            if len(self.url) > limits.max_url_bytes:
                self.malformed(UriTooLong(f"the request target is longer than "
                                          f"{limits.max_url_bytes} bytes"))
            elif self.head_bytes > limits.max_header_bytes:
                self.malformed(HeadersTooLarge(f"the request head is larger than "
                                               f"{limits.max_header_bytes} bytes"))
            elif len(self.raw) > limits.max_headers:
                self.malformed(HeadersTooLarge(f"the request has more than "
                                               f"{limits.max_headers} header fields"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        self.rt.connection_closed(self)
        if self.tunnel is not None:
            self.tunnel.client_closed()
        active, queued = self.active, list(self.queue)
        self.active = None
        self.queue.clear()
        if active is not None:
            active.client_lost()
        for exchange in queued:
            exchange.done = True

    def pause_writing(self) -> None:
        self.write_paused = True
        if self.tunnel is not None:
            self.tunnel.client_paused(True)
            return
        active = self.active
        if active is not None and active.up is not None:
            active.up.set_reading(True)

    def resume_writing(self) -> None:
        self.write_paused = False
        if self.tunnel is not None:
            self.tunnel.client_paused(False)
            return
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
        limits = self.rt.limits
        if len(self.url) > limits.max_url_bytes:
            head.error = UriTooLong(f"the request target is longer than "
                                    f"{limits.max_url_bytes} bytes")
        elif self.head_size + len(self.url) > limits.max_header_bytes:
            head.error = HeadersTooLarge(f"the request head is larger than "
                                         f"{limits.max_header_bytes} bytes")
        elif len(self.raw) > limits.max_headers:
            head.error = HeadersTooLarge(f"the request has more than {limits.max_headers} "
                                         "header fields")
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
        if self.tunnel is not None:
            return
        if exchange.close_after or self.closing or self.rt.draining or self.upgrading:
            self.close()
            return
        if self.queue:
            following = self.active = self.queue.popleft()
            assert self.rt.loop is not None
            self.rt.loop.call_soon(self._dispatch_queued, following)
            return
        if self.pauses:
            self.resume(PAUSE_QUEUE)
        self.idle_since = self.rt.loop.time()  # type: ignore[union-attr]

    def _dispatch_queued(self, exchange: Exchange) -> None:
        if exchange is self.active and not exchange.done:
            if not self.queue:
                self.resume(PAUSE_QUEUE)
            exchange.dispatch()
            exchange.flush_up()
            exchange.flush()

    def upgrade_requested(self, rest: bytes) -> None:
        """The parser stopped after a request that asks to switch protocols: a WebSocket
        handshake being forwarded waits for its answer (``rest``, what the client sent
        after it, waits too); any other upgrade ends the connection after its response."""
        active = self.active
        if active is not None and not active.done and active.head.upgrade \
                and active.forwarding:
            self.upgrading = True
            self.pause(PAUSE_UPGRADE)
            self._early(rest)
            return
        self.broken = self.closing = True
        if active is None:
            self.close()

    def _early(self, data: bytes) -> None:
        active = self.active
        if active is not None and data:
            active.early += data

    def upgraded(self, tunnel: Tunnel) -> None:
        """The upstream answered 101: relay bytes from now on (:mod:`.tunnel`)."""
        self.tunnel = tunnel
        self.upgrading = False
        self.resume(PAUSE_UPGRADE)

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
        if self.tunnel is not None:
            return
        if active is None and self.reading is None and not self.in_head:
            if now - self.idle_since > KEEPALIVE_TIMEOUT:
                self.close()
        elif self.in_head and active is None and now - self.head_started > HEAD_TIMEOUT:
            self.malformed(RequestTimeout())
        elif active is not None and active.done and now - self.discard_since > HEAD_TIMEOUT:
            self.close()

    def drain(self) -> None:
        """Shutting down: close now when idle, else after the response in flight (a tunnel
        stays until the drain timeout)."""
        if self.tunnel is not None:
            return
        self.closing = True
        if self.active is None:
            self.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

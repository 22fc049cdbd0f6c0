"""Forwarding one request to an upstream target and relaying its response, streaming.

:class:`ProxyExchange` checks the upstream's circuit breaker, picks a target (the upstream's
balancer, skipping targets that are down), takes an idle pooled connection or opens one
(connect timeout), writes the request head and streams the body as it arrives
(``Content-Length`` or re-chunked), then relays the response as the upstream's parser produces
it: headers filtered and reframed for the client (``Content-Length`` kept, otherwise chunked to
HTTP/1.1 clients and close-delimited to HTTP/1.0 ones), body written as it comes. Backpressure
runs both ways: a full upstream write buffer pauses reading the client, a full client write
buffer pauses reading the upstream.

An attempt fails when the target refuses or cannot be reached, resets or closes before
answering, answers something that is not HTTP, or sends nothing within the first-byte timeout;
every failure and every 5xx answer counts against the target (passive health) and the
upstream's breaker. A failed attempt is retried on another target (:mod:`.attempts` decides
whether) while the response has not started; otherwise it is answered with a JSON error: 502
(refused, reset, garbage), 504 (connect, first-byte or total timeout), 503 when no target is
healthy or the breaker is open. After the response started the client connection is closed
(the client sees a short body). A request on a reused keep-alive connection that the upstream
closed while idle is tried once more on a new connection when it is safe to repeat.

A WebSocket handshake is forwarded with its upgrade headers; a ``101`` answer turns both
connections into a raw byte tunnel (:mod:`.tunnel`).

For a route with policies, the upstream's head goes through :mod:`.respond` first (response
hooks, the policies' response headers), which may hold it back for a while.
"""

from __future__ import annotations

import time
from typing import Final
from urllib.parse import quote

from edgeway.edge.proxy.errors import (
    CircuitOpen,
    NoHealthyTarget,
    UpstreamBadResponse,
    UpstreamReset,
    UpstreamTimeout,
)
from edgeway.edge.proxy.exchange import PAUSE_BUFFER, PAUSE_UPSTREAM
from edgeway.edge.proxy.headers import (
    FORWARD,
    RESPONSE_CHUNKED,
    RESPONSE_KINDS,
    RESPONSE_LENGTH,
    response_kind,
)
from edgeway.edge.proxy.local import CONTINUE, status_line
from edgeway.edge.proxy.prepared import RoutePlan
from edgeway.edge.proxy.respond import ResponseHooks
from edgeway.edge.proxy.tunnel import Tunnel
from edgeway.edge.proxy.upstream import UpstreamConnection
from edgeway.edge.routing import RouteHit

__all__ = ["ProxyExchange"]

perf_counter: Final = time.perf_counter  # compiled: a C static, not a module dict lookup

_CHUNKED: Final = b"transfer-encoding: chunked\r\n"
_UPGRADED: Final = b"connection: upgrade\r\nupgrade: websocket\r\n"
_LAST_CHUNK: Final = b"0\r\n\r\n"
_NO_BODY: Final = frozenset({204, 304})
TOTAL: Final = 1
FIRST_BYTE: Final = 2


def _target_bytes(path: str, query: str) -> bytes:
    text = path + "?" + query if query else path
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:  # a rewrite template with non-Latin-1 text
        return quote(text, safe="/%?=&;:@!$'()*+,~-._").encode()


class ProxyExchange(ResponseHooks):
    """An exchange that can forward; see the module docstring."""

    reason = b""
    chunk_out = False
    close_delimited = False
    interim = False
    switching = False

    # -- starting -------------------------------------------------------------------------

    def forward(self, plan: RoutePlan, hit: RouteHit) -> None:
        self.forwarding = True
        head, upstream = self.head, plan.upstream
        assert upstream is not None
        assert self.trace is not None
        self.upstream = upstream
        now = self.up_started = perf_counter()
        breaker = upstream.breaker
        if breaker is not None:
            verdict = breaker.allow(now)
            if not verdict:
                self.fail(CircuitOpen(
                    f"the circuit breaker of upstream {upstream.name!r} is open (next probe in "
                    f"{breaker.retry_after(now):.1f} s)"))  # fmt: skip
                return
            self.probing = verdict == 2
        if plan.attempts:
            upstream.budget.request(now)
        index = upstream.pick(head, head.params, 0, now)
        if index < 0:
            self.end_probe()
            self.fail(NoHealthyTarget(f"no target of upstream {upstream.name!r} is healthy"))
            return
        path = head.path
        if head.upstream_path is not None:
            path = head.upstream_path
        elif plan.strip_path:
            path = hit.remainder or "/"
        elif plan.rewrite is not None:
            rendered, rest = plan.rewrite.render(hit.params), hit.remainder
            path = rendered + (rest[1:] if rest and rendered.endswith("/") else rest)
        self.request_target = (
            head.target if path is head.path and head.target else _target_bytes(path, head.query)
        )
        first = upstream.targets[index]
        self.traceparent = self.trace.upstream(head.method, first.host, first.port)
        if head.expect_continue and not self.request_done and not self.pending:
            self.conn.write(CONTINUE)
        self.total_slot = self.rt.deadlines.add(self.started + plan.total_s - now, self, TOTAL)
        self.attempt(index)

    def attach(self, up: UpstreamConnection) -> None:
        """Send the head and any body received so far on ``up``."""
        self.up = up
        self.reached = True
        up.begin(self, self)
        up_out = self.up_out
        up_out.append(self.up_head)
        pending = self.pending
        if pending:
            if self.head.chunked:
                for chunk in pending:
                    up_out += (b"%x\r\n" % len(chunk), chunk, b"\r\n")
            else:
                up_out += pending
            self.pending = None
            self.pending_size = 0
            self.conn.resume(PAUSE_BUFFER)
        if self.conn.write_paused:
            up.set_reading(True)
        if self.request_done:
            self.request_sent()
        if not self.conn.feeding:
            self.flush_up()

    def request_sent(self) -> None:
        if self.sent_all:
            return
        self.sent_all = True
        if self.head.chunked:
            self.up_out.append(_LAST_CHUNK)
        if not self.conn.feeding:
            self.flush_up()
        plan = self.plan
        assert plan is not None
        if plan.first_byte_s is not None and not self.got_bytes:
            self.first_byte_slot = self.rt.deadlines.add(plan.first_byte_s, self, FIRST_BYTE)

    # -- the response: HttpResponseParser callbacks -----------------------------------------

    def on_message_begin(self) -> None:
        self.got_bytes = True
        if self.first_byte_slot:
            self.rt.deadlines.cancel(self.first_byte_slot, self)
            self.first_byte_slot = 0
        self.lines = [b""]  # the status line goes first, once known
        self.clash = False
        self.reason = b""
        self.resp_length = None
        self.resp_chunked = False

    def on_status(self, status: bytes) -> None:
        self.reason += status

    def on_header(self, name: bytes, value: bytes) -> None:
        lines = self.lines
        if lines is None or self.responded:  # trailers of a chunked response: not relayed
            return
        found = RESPONSE_KINDS.get(name)
        if found is None:
            found = response_kind(name)
        kind = found.kind
        if kind == FORWARD:
            lines += (name, b": ", value, b"\r\n")
            view = self.view
            if view is not None and found.lower in view.replaced:
                self.clash = True
        elif kind == RESPONSE_LENGTH:
            self.resp_length = value
        elif kind == RESPONSE_CHUNKED:
            self.resp_chunked = True

    def on_headers_complete(self) -> None:
        up = self.up
        if self.done or up is None or up.parser is None:
            return
        parser = up.parser
        status = parser.get_status_code()
        head = self.head
        if status < 200:
            if status == 101 and head.upgrade:
                self.switching = True
            else:
                self.interim = True  # 100 Continue, 103 Early Hints: not relayed
                return
        elif head.upgrade:
            self.close_after = True  # refused: the client's stream is not HTTP any more
        self.status = status
        self.up_ms = (perf_counter() - self.up_started) * 1000
        if status >= 500 or self.upstream.watched:  # type: ignore[union-attr]
            self.outcome(status)
        lines = self.lines
        assert lines is not None
        if self.view is not None:
            self.lines = None  # held or not, later header fields are trailers
            held = self.hold_response(status, lines)
            if held is None:
                return
            lines = held
        self.emit_head(lines)

    def emit_head(self, lines: list[bytes]) -> None:
        """Write the response head for the client: ``lines`` holds the upstream's headers
        (the status slot first), framing and the request id are added here."""
        status, head = self.status, self.head
        length, chunked = self.resp_length, self.resp_chunked
        lines[0] = status_line(status, self.reason)
        if self.switching:
            lines.append(_UPGRADED)
        elif length is not None:
            lines += (b"content-length: ", length, b"\r\n")
        elif head.method != "HEAD" and status not in _NO_BODY:
            self.close_delimited = not chunked
            if head.http10:
                self.close_after = True
            else:
                self.chunk_out = True
                lines.append(_CHUNKED)
        lines += (b"x-request-id: ", head.request_id_bytes, b"\r\n",
                  b"" if self.switching else self.connection_header(), b"\r\n")
        sent = b"".join(lines)
        self.out.append(sent)
        self.responded = True
        view = self.view
        if view is not None and view.keep_head:
            view.sent_head = sent
        if head.method == "HEAD" and not self.switching:  # no body follows, whatever the
            # headers say... unless the upstream sends it anyway (some do): only a connection
            # whose response announced no body is safe to reuse
            announced = chunked or self.close_delimited or length not in (None, b"0")
            up = self.up
            parser = up.parser if up is not None else None
            self.response_end(parser is not None and parser.should_keep_alive()
                              and not announced)  # fmt: skip

    def on_body(self, body: bytes) -> None:
        if self.done or self.interim:
            return
        if self.held is not None:
            self.hold_body(body)
        elif self.chunk_out:
            self.out += (b"%x\r\n" % len(body), body, b"\r\n")
        else:
            self.out.append(body)

    def relay_body(self, body: bytes) -> None:
        if self.chunk_out:
            self.out += (b"%x\r\n" % len(body), body, b"\r\n")
        else:
            self.out.append(body)

    def on_message_complete(self) -> None:
        if self.interim:
            self.interim = False
            return
        up = self.up
        if self.done or up is None or up.parser is None:
            return
        if self.switching:
            self.start_tunnel(up)
            return
        if self.held is not None:
            self.hold_end(up.parser.should_keep_alive())
            return
        if self.chunk_out:
            self.out.append(_LAST_CHUNK)
        self.response_end(up.parser.should_keep_alive())

    def end_message(self, keep_alive: bool) -> None:
        if self.chunk_out:
            self.out.append(_LAST_CHUNK)
        self.response_end(keep_alive)

    def response_end(self, keep_alive: bool) -> None:
        self.reusable = keep_alive and self.sent_all and not self.close_delimited \
            and not self.head.upgrade
        trace = self.trace
        if trace is not None and trace.client is not None:
            trace.end_upstream(self.status)
        self.complete()

    def start_tunnel(self, up: UpstreamConnection) -> None:
        """The upstream switched protocols: relay raw bytes both ways from now on."""
        conn = self.conn
        self.flush()  # the 101 goes out before any tunnelled byte
        self.up = None
        up.user = None
        up.parser = None
        tunnel = Tunnel(conn, up)
        early, self.early = self.early, b""
        if early:
            up.write(early)
        if self.trace is not None:
            self.trace.end_upstream(101)
        conn.upgraded(tunnel)
        self.complete()

    # -- what the connection reports ------------------------------------------------------

    def upstream_paused(self, paused: bool) -> None:
        if paused:
            self.conn.pause(PAUSE_UPSTREAM)
        else:
            self.conn.resume(PAUSE_UPSTREAM)

    def upstream_lost(self, conn: UpstreamConnection, exc: Exception | None) -> None:
        if conn is not self.up or self.done:
            return
        self.up = None
        if self.held is not None and self.held_upstream_closed():
            return
        if not self.responded:
            if conn.uses > 1 and not self.got_bytes and self.stale_retry():
                return  # a keep-alive connection the upstream closed while idle
            why = f": {exc}" if exc else ""
            self.attempt_failed(UpstreamReset(
                f"the upstream closed the connection before answering{why}"), reached=True)
        elif self.close_delimited:  # the upstream's close ends the body
            if self.chunk_out:
                self.out.append(_LAST_CHUNK)
            self.response_end(False)
        else:
            self.abort_client("the upstream closed the connection mid-response")

    def upstream_invalid(self, conn: UpstreamConnection, exc: Exception) -> None:
        conn.user = None
        conn.abort()
        if conn is not self.up or self.done:
            return
        self.up = None
        why = str(exc) or type(exc).__name__
        self.attempt_failed(UpstreamBadResponse(f"the upstream sent an invalid response: {why}"),
                            reached=True)

    def timed_out(self, kind: int) -> None:
        if kind == TOTAL:
            self.total_timeout()
        else:
            self.first_byte_timeout()

    def total_timeout(self) -> None:
        self.total_slot = 0
        if not self.done and self.plan is not None:
            ms = round(self.plan.total_s * 1000)
            self.attempt_failed(UpstreamTimeout(f"the upstream did not answer within {ms} ms"),
                                reached=True, final=True)

    def first_byte_timeout(self) -> None:
        self.first_byte_slot = 0
        plan = self.plan
        if not self.done and not self.got_bytes and plan is not None and plan.first_byte_s:
            ms = round(plan.first_byte_s * 1000)
            self.attempt_failed(UpstreamTimeout(
                f"the upstream sent nothing within {ms} ms of receiving the request"),
                reached=True)  # fmt: skip

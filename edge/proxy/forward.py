"""Forwarding one request to an upstream target and relaying its response, streaming.

:class:`ProxyExchange` picks a target (smooth weighted round robin), takes an idle pooled
connection or opens one (connect timeout), writes the request head and streams the body as it
arrives (``Content-Length`` or re-chunked), then relays the response as the upstream's parser
produces it: headers filtered and reframed for the client (``Content-Length`` kept, otherwise
chunked to HTTP/1.1 clients and close-delimited to HTTP/1.0 ones), body written as it comes.
Backpressure runs both ways: a full upstream write buffer pauses reading the client, a full
client write buffer pauses reading the upstream.

Failures before the response started are answered with JSON errors: 502 when the target
refuses, resets or sends garbage, 504 when the connect, first-byte or total timeout passes.
After that the client connection is closed (the client sees a short body). A request without a
body that fails on a reused keep-alive connection before any response byte (the upstream closed
it while idle) is tried once more on a new connection.
"""

from __future__ import annotations

from time import perf_counter
from urllib.parse import quote

from edgeway.edge.proxy.errors import (
    EdgeError,
    UpstreamBadResponse,
    UpstreamReset,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from edgeway.edge.proxy.exchange import PAUSE_BUFFER, PAUSE_UPSTREAM, Exchange
from edgeway.edge.proxy.headers import RESPONSE_SKIP, request_head
from edgeway.edge.proxy.local import CONTINUE, status_line
from edgeway.edge.proxy.prepared import RoutePlan
from edgeway.edge.proxy.upstream import TargetPool, UpstreamConnection
from edgeway.edge.routing import RouteHit

__all__ = ["ProxyExchange"]

_CHUNKED = b"transfer-encoding: chunked\r\n"
_LAST_CHUNK = b"0\r\n\r\n"
_NO_BODY = frozenset({204, 304})


def _target_bytes(path: str, query: str) -> bytes:
    text = path + "?" + query if query else path
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:  # a rewrite template with non-Latin-1 text
        return quote(text, safe="/%?=&;:@!$'()*+,~-._").encode()


class ProxyExchange(Exchange):
    """An exchange that can forward; see the module docstring."""

    got_bytes = False
    reason = b""
    resp_headers: list[tuple[bytes, bytes]] | None = None
    chunk_out = False
    close_delimited = False
    interim = False
    sent_all = False
    up_head = b""

    # -- starting -------------------------------------------------------------------------

    def forward(self, plan: RoutePlan, hit: RouteHit) -> None:
        self.forwarding = True
        head, upstream = self.head, plan.upstream
        assert upstream is not None
        assert self.trace is not None
        target = self.target = upstream.pick()
        path = head.path
        if plan.strip_path:
            path = hit.remainder or "/"
        elif plan.rewrite is not None:
            rendered, rest = plan.rewrite.render(hit.params), hit.remainder
            path = rendered + (rest[1:] if rest and rendered.endswith("/") else rest)
        request_target = (
            head.target if path is head.path and head.target else _target_bytes(path, head.query)
        )
        host = head.host_header if plan.preserve_host and head.host_header else target.host_value
        traceparent = self.trace.upstream(head.method, target.host, target.port)
        self.up_head = request_head(head, request_target, host, traceparent)
        if head.expect_continue and not self.request_done and not self.pending:
            self.conn.write(CONTINUE)
        self.up_started = now = perf_counter()
        self.timer = self.loop.call_later(self.started + plan.total_s - now, self.total_timeout)
        self.use_connection(reuse=True)

    def use_connection(self, *, reuse: bool) -> None:
        """Attach an idle pooled connection (when ``reuse``) or start opening a new one."""
        assert self.target is not None
        pool = self.target.pool
        assert pool is not None, "targets are bound to pools when a config is installed"
        up = pool.take() if reuse else None
        if up is not None:
            self.attach(up)
        else:
            self.connecting = self.rt.spawn(self.connect(pool))

    async def connect(self, pool: TargetPool) -> None:
        plan, target = self.plan, self.target
        assert plan is not None
        assert target is not None
        left = self.started + plan.total_s - perf_counter()
        timeout = max(0.001, min(plan.connect_s, left))
        try:
            up = await pool.connect(timeout)
        except TimeoutError:
            self.connecting = None
            ms = round(timeout * 1000)
            self.upstream_failed(UpstreamTimeout(f"connecting to {target.address} timed out "
                                                 f"after {ms} ms"))
            return
        except Exception as exc:  # OSError and friends: refused, unreachable, DNS
            self.connecting = None
            why = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            self.upstream_failed(UpstreamUnavailable(f"could not connect to {target.address}: "
                                                     f"{why}"))
            return
        self.connecting = None
        if self.done:
            pool.release(up)
        else:
            self.attach(up)

    def attach(self, up: UpstreamConnection) -> None:
        """Send the head and any body received so far on ``up``."""
        self.up = up
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
            self.first_byte_timer = self.loop.call_later(plan.first_byte_s,
                                                         self.first_byte_timeout)

    # -- the response: HttpResponseParser callbacks -----------------------------------------

    def on_message_begin(self) -> None:
        self.got_bytes = True
        if self.first_byte_timer is not None:
            self.first_byte_timer.cancel()
            self.first_byte_timer = None
        self.resp_headers = []
        self.reason = b""

    def on_status(self, status: bytes) -> None:
        self.reason += status

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self.responded and self.resp_headers is not None:
            self.resp_headers.append((name, value))

    def on_headers_complete(self) -> None:
        up = self.up
        if self.done or up is None or up.parser is None:
            return
        parser = up.parser
        status = parser.get_status_code()
        if status < 200:
            self.interim = True  # 100 Continue, 103 Early Hints: not relayed
            return
        self.status = status
        self.up_ms = (perf_counter() - self.up_started) * 1000
        head = self.head
        length: bytes | None = None
        chunked = False
        lines = [status_line(status, self.reason)]
        for name, value in self.resp_headers or ():
            lname = name.lower()
            if lname in RESPONSE_SKIP:
                if lname == b"content-length":
                    length = value
                elif lname == b"transfer-encoding":
                    chunked = True
                continue
            lines += (name, b": ", value, b"\r\n")
        if length is not None:
            lines += (b"content-length: ", length, b"\r\n")
        elif head.method != "HEAD" and status not in _NO_BODY:
            self.close_delimited = not chunked
            if head.http10:
                self.close_after = True
            else:
                self.chunk_out = True
                lines.append(_CHUNKED)
        lines += (b"x-request-id: ", head.request_id_bytes, b"\r\n", self.connection_header(),
                  b"\r\n")
        self.out.append(b"".join(lines))
        self.responded = True
        if head.method == "HEAD":  # no body follows, whatever the headers say...
            # ...unless the upstream sends it anyway (some do): only a connection whose
            # response announced no body is safe to reuse
            announced = chunked or self.close_delimited or length not in (None, b"0")
            self.response_end(parser.should_keep_alive() and not announced)

    def on_body(self, body: bytes) -> None:
        if self.done or self.interim:
            return
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
        if self.chunk_out:
            self.out.append(_LAST_CHUNK)
        self.response_end(up.parser.should_keep_alive())

    def response_end(self, keep_alive: bool) -> None:
        self.reusable = keep_alive and self.sent_all and not self.close_delimited
        if self.trace is not None:
            self.trace.end_upstream(self.status)
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
        if not self.responded:
            head = self.head
            if not self.retried and conn.uses > 1 and not self.got_bytes and not head.chunked \
                    and not head.length:
                self.retried = True  # a stale keep-alive connection: once more, on a new one
                self.sent_all = False
                self.up_out.clear()
                self.use_connection(reuse=False)
                return
            why = f": {exc}" if exc else ""
            self.upstream_failed(UpstreamReset(
                f"the upstream closed the connection before answering{why}"))
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
        self.upstream_failed(UpstreamBadResponse(f"the upstream sent an invalid response: {why}"))

    def upstream_failed(self, error: EdgeError) -> None:
        if self.done:
            return
        if self.trace is not None:
            self.trace.end_upstream(0, error.message)
        self.drop_upstream()
        if not self.request_done:
            self.close_after = True  # do not wait for the rest of a body nobody will read
        if self.responded:
            self.abort_client(error.message)
        else:
            self.fail(error)

    def total_timeout(self) -> None:
        self.timer = None
        if not self.done and self.plan is not None:
            ms = round(self.plan.total_s * 1000)
            self.upstream_failed(UpstreamTimeout(f"the upstream did not answer within {ms} ms"))

    def first_byte_timeout(self) -> None:
        self.first_byte_timer = None
        plan = self.plan
        if not self.done and not self.got_bytes and plan is not None and plan.first_byte_s:
            ms = round(plan.first_byte_s * 1000)
            self.upstream_failed(UpstreamTimeout(
                f"the upstream sent nothing within {ms} ms of receiving the request"))

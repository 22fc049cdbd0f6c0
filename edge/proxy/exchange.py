"""One request on a client connection, from its parsed head to the end of its response.

:meth:`Exchange.dispatch` routes the request on the config current at that moment (kept until
the exchange ends), runs the route's policy chain when it has one (:meth:`Exchange.police`,
implemented in :mod:`.policed`) and then either answers locally (mock, policy answer, error) or
forwards (:meth:`Exchange.forward`, implemented by :class:`~.forward.ProxyExchange`).
:meth:`Exchange.complete` is the one place an exchange ends: timers cancelled, upstream
connection pooled or closed, counts, spans, the policies' ``at_end`` callbacks and the
access-log line, then the client connection moves on to its next request.

Output to the client is collected in ``out`` and written by :meth:`flush` once per parser feed,
so a small response leaves in one ``write``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Collection
from typing import TYPE_CHECKING, Final

import structlog

from edgeway.edge.proxy.errors import EdgeError, NoConfig, PayloadTooLarge, RouteNotFound
from edgeway.edge.proxy.limits import BODY_BUFFER, DISCARD_LIMIT
from edgeway.edge.proxy.local import CLOSE, KEEP_ALIVE, Canned, render_error
from edgeway.edge.proxy.prepared import PreparedConfig, RoutePlan, TargetPlan
from edgeway.edge.proxy.tracing import RequestTrace
from edgeway.edge.proxy.upstream import UpstreamConnection
from edgeway.edge.proxy.view import Finished
from edgeway.edge.routing import RouteHit

if TYPE_CHECKING:
    from edgeway.edge.proxy.client import ClientConnection
    from edgeway.edge.proxy.request import RequestHead
    from edgeway.edge.proxy.view import PolicyView

__all__ = ["Exchange"]

perf_counter: Final = time.perf_counter  # compiled: a C static, not a module dict lookup

log = structlog.get_logger(__name__)

PAUSE_UPSTREAM: Final = 2
PAUSE_BUFFER: Final = 4


class Exchange:
    """See the module docstring. Attributes default at class level: a request only writes
    the ones it changes."""

    config: PreparedConfig | None = None
    plan: RoutePlan | None = None
    trace: RequestTrace | None = None
    view: PolicyView | None = None
    """The policies' view of the request (only for a route with a policy chain)."""
    # forwarding
    forwarding = False
    target: TargetPlan | None = None
    up: UpstreamConnection | None = None
    connecting: asyncio.Task[None] | None = None
    total_slot = 0
    """The :class:`~.deadlines.Deadlines` slot of the total timeout (0: none)."""
    first_byte_slot = 0
    up_started = 0.0
    up_ms: float | None = None
    retried = False
    reusable = False
    """Whether the upstream connection can serve another request when this one ends."""
    # the request body
    pending: list[bytes] | None = None
    pending_size = 0
    body_waiter: asyncio.Future[bool] | None = None
    """Set while a policy waits for the whole body (up to ``buffering`` bytes)."""
    buffering = 0
    body_size = 0
    discarded = 0
    early = b""
    """Bytes the client sent after a WebSocket handshake, held until the upstream switches."""
    request_done = False
    # the response
    status = 0
    bytes_sent = 0
    responded = False
    done = False
    close_after = False
    error = ""

    def __init__(self, conn: ClientConnection, head: RequestHead) -> None:
        self.conn = conn
        self.head = head
        self.rt = rt = conn.rt
        assert rt.loop is not None
        self.loop: asyncio.AbstractEventLoop = rt.loop
        self.started = perf_counter()
        """When the request head was complete (``perf_counter``: uvloop's clock ticks in ms)."""
        self.out: list[bytes] = []
        self.up_out: list[bytes] = []
        self.body_limit = rt.limits.max_body_bytes
        """The route's body limit once routed (the global one before)."""

    # -- deciding -------------------------------------------------------------------------

    def dispatch(self) -> None:
        """Route the request and answer it or start forwarding it."""
        head = self.head
        if head.error is not None:
            self.fail(head.error)
            return
        config = self.rt.config
        if config is None:
            self.fail(NoConfig())
            return
        self.config = config
        self.trace = self.rt.tracing.start(head.traceparent, head.method, head.path, head.host)
        hit = config.router.match(head.host, head.method, head.path, head)
        if hit is None:
            where = f"{head.method} {head.host or '(no host)'}{head.path}"
            self.fail(RouteNotFound(f"no route matches {where}"))
            return
        plan = self.plan = config.plans[hit.route.index]
        head.params = hit.params
        limit = self.body_limit = plan.max_body
        if (head.length or 0) > limit or self.body_size > limit:
            self.fail(PayloadTooLarge(f"the request body ({head.length or self.body_size} "
                                      f"bytes) is larger than {limit} bytes"))
            return
        if plan.chain is not None:
            self.police(plan, hit)
        elif plan.mock is not None:
            self.respond(plan.mock)
        else:
            self.forward(plan, hit)

    def police(self, plan: RoutePlan, hit: RouteHit) -> None:
        """Run the route's policy chain, then answer or forward (see :mod:`.policed`)."""
        raise NotImplementedError

    # -- answering locally ----------------------------------------------------------------

    def connection_header(self) -> bytes:
        """``connection: close`` when the client connection ends after this response (and
        remember that), ``keep-alive`` for an HTTP/1.0 client that keeps it, else nothing."""
        head = self.head
        if (
            self.close_after
            or not head.keep_alive
            or self.rt.draining
            or self.conn.closing
            or (head.expect_continue and not self.request_done and not self.forwarding)
        ):
            self.close_after = True
            return CLOSE
        return KEEP_ALIVE if head.http10 else b""

    def respond(self, canned: Canned, extra: bytes = b"", replaced: Collection[str] = ()
                ) -> None:  # fmt: skip
        """Answer with a pre-rendered response (mock or policy answer), with the policies'
        ``extra`` header lines replacing its own headers named in ``replaced``."""
        self.status = canned.status
        head = self.head
        self.out.append(canned.render(
            head.request_id_bytes, self.connection_header(), head.method == "HEAD", extra,
            replaced,
        ))  # fmt: skip
        self.responded = True
        self.complete()

    def fail(self, error: EdgeError) -> None:
        """Answer with ``error``'s JSON body (the response must not have started)."""
        self.status = error.status
        self.error = error.message
        if error.closes:
            self.close_after = True
        head, view = self.head, self.view
        self.out.append(render_error(
            error, head.request_id, self.connection_header(), head.method == "HEAD",
            view.response_lines() if view is not None else b"",
        ))  # fmt: skip
        self.responded = True
        self.complete()

    # -- the request body, from the client connection ----------------------------------------

    def request_body(self, chunk: bytes) -> None:
        size = self.body_size = self.body_size + len(chunk)
        if size > self.body_limit and self.head.chunked and not self.done \
                and self.plan is not None:
            self.request_failed(PayloadTooLarge(
                f"the request body is larger than {self.body_limit} bytes"))
            return
        if self.done:
            self.discarded += len(chunk)
            if self.discarded > DISCARD_LIMIT:
                self.conn.close()
            return
        if self.up is not None:
            if self.head.chunked:
                self.up_out += (b"%x\r\n" % len(chunk), chunk, b"\r\n")
            else:
                self.up_out.append(chunk)
            return
        if self.pending is None:
            self.pending = []
        self.pending.append(chunk)
        self.pending_size += len(chunk)
        if self.body_waiter is not None:  # a policy reads the whole body: no pause
            if self.pending_size > self.buffering:
                self.request_failed(PayloadTooLarge(
                    f"the request body is larger than {self.buffering} bytes"))
        elif self.pending_size > BODY_BUFFER:
            self.conn.pause(PAUSE_BUFFER)

    def request_complete(self) -> None:
        self.request_done = True
        if self.done:
            self.conn.transaction_done(self)
        elif self.up is not None:
            self.request_sent()
        elif self.body_waiter is not None and not self.body_waiter.done():
            self.body_waiter.set_result(True)

    def request_failed(self, error: EdgeError) -> None:
        """The client's request stream broke (malformed body): answer or abort."""
        if self.done:
            return
        self.close_after = True  # the stream cannot be read past the error
        if self.responded:
            self.abort_client(error.message)
        else:
            self.drop_upstream()
            self.fail(error)
        waiter = self.body_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(False)

    # -- output ---------------------------------------------------------------------------

    def flush(self) -> None:
        """Write what was collected for the client in one ``write``."""
        out = self.out
        if out:
            data = out[0] if len(out) == 1 else b"".join(out)
            out.clear()
            self.bytes_sent += len(data)
            self.conn.write(data)

    def flush_up(self) -> None:
        """Write what was collected for the upstream in one ``write``."""
        up_out = self.up_out
        if up_out:
            up = self.up
            data = up_out[0] if len(up_out) == 1 else b"".join(up_out)
            up_out.clear()
            if up is not None:
                up.write(data)

    # -- forwarding (see forward.ProxyExchange) ------------------------------------------------

    def forward(self, plan: RoutePlan, hit: RouteHit) -> None:
        """Send the request to a target of the route's upstream and relay the answer."""
        raise NotImplementedError

    def request_sent(self) -> None:
        """The whole request is in the upstream's hands: finish its framing, start waiting."""
        raise NotImplementedError

    @property
    def holds_target(self) -> bool:
        """Whether the current attempt holds something of its target (see ``attempts``)."""
        return False

    def release_target(self) -> None:
        """Give back what the current attempt holds of its target (see ``attempts``)."""

    def stop_timers(self) -> None:
        if self.total_slot:
            self.rt.deadlines.cancel(self.total_slot, self)
            self.total_slot = 0
        if self.first_byte_slot:
            self.rt.deadlines.cancel(self.first_byte_slot, self)
            self.first_byte_slot = 0

    def timed_out(self, kind: int) -> None:
        """A deadline of this exchange passed (see ``forward``)."""

    def drop_upstream(self) -> None:
        """Stop any upstream work: cancel connecting, abort the connection (not reusable)."""
        if self.connecting is not None:
            self.connecting.cancel()
            self.connecting = None
        up = self.up
        if up is not None:
            self.up = None
            up.user = None
            up.abort()

    # -- the end --------------------------------------------------------------------------

    def complete(self) -> None:
        """The response is complete (or answered locally): clean up, record, move on."""
        if self.done:
            return
        self.done = True
        self.flush()
        if self.total_slot or self.first_byte_slot:
            self.stop_timers()
        if self.holds_target:
            self.release_target()
        up = self.up
        if up is not None:
            self.up = None
            up.done(self.reusable)
        if self.connecting is not None:
            self.connecting.cancel()
            self.connecting = None
        conn = self.conn
        if conn.pauses:
            conn.resume(PAUSE_UPSTREAM | PAUSE_BUFFER)
        self.record()
        if self.request_done:
            conn.transaction_done(self)
        elif self.close_after:
            self.conn.close()  # answered before the body came: do not wait for it
        else:  # the rest of the body is read and dropped, then the connection goes on
            self.conn.discard_since = self.loop.time()

    def abort_client(self, reason: str) -> None:
        """The response started but cannot be finished: record it and close the client
        connection (a short body or a missing last chunk tells the client)."""
        if self.done:
            return
        self.error = reason
        self.close_after = True
        self.done = True
        self.flush()
        self.stop_timers()
        self.drop_upstream()
        self.release_target()
        self.record()
        self.conn.close()

    def client_lost(self) -> None:
        """The client connection closed: stop everything this exchange holds."""
        if self.done:
            return
        self.done = True
        if not self.responded:
            self.status = 499  # nginx's "client closed request"
        self.error = self.error or "the client closed the connection"
        self.stop_timers()
        self.drop_upstream()
        self.release_target()
        if self.config is not None or self.trace is not None:
            self.record()

    def record(self) -> None:
        """Count the request on its version, end its spans, write its access-log line."""
        status, config, plan = self.status, self.config, self.plan
        if config is not None:
            config.requests += 1
            if status >= 500:
                config.errors += 1
        route = plan.id if plan is not None else None
        version = config.version if config is not None else None
        view, consumer = self.view, ""
        trace = self.trace
        latency_ms = (perf_counter() - self.started) * 1000
        if view is not None:
            if view.ended is not None:
                view.finished = Finished(status, self.bytes_sent, latency_ms, self.up_ms,
                                         trace.trace_id.decode() if trace is not None else "")
            if view.task is not None or view.ended is not None:
                view.finish()
            if view.consumer is not None:
                consumer = view.consumer.name
        if trace is not None and (trace.span is not None or trace.client is not None):
            trace.end(status, route, version, self.error)
        access_log = self.rt.access_log
        if access_log is not None:
            head = self.head
            access_log.log(
                head.request_id, head.client_ip, head.method, head.path, route, status,
                self.bytes_sent, latency_ms, self.up_ms, version,
                trace.trace_id.decode() if trace is not None else "", self.error, consumer,
                view.plugin_failures if view is not None else None,
                view.plugin_context if view is not None else None,
            )  # fmt: skip

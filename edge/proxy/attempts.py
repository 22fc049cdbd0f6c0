"""The attempts of one forwarded request: targets, connections, failures and retries.

:class:`AttemptExchange` runs one attempt at a time on one target (:meth:`attempt`). When an
attempt fails before the response started, :meth:`attempt_failed` records the failure against
the target and the upstream's breaker and retries on another target when every rule allows it:

1. the request has retries left (the route's ``retries.attempts``) and the total timeout has
   not passed;
2. the method is idempotent (``GET``, ``HEAD``, ``OPTIONS``, ``PUT``, ``DELETE``, ``TRACE``) and
   the request has no body — or the request never reached the target (the connection could
   not be opened: its body, if any, is still all in the edge), and ``retries.on_connect_failure``
   allows repeating a non-idempotent one; a ``POST`` whose head was written to a target is
   never repeated;
3. the upstream's breaker is closed, and its retry budget has room
   (:class:`~edgeway.edge.balancing.RetryBudget`);
4. a target this request has not tried is up.

A keep-alive connection that the upstream closed while idle, found out when it is reused, is
not the target's fault: the request is sent once more on a new connection to the same target
(within the same rules 2, without counting a retry).
"""

from __future__ import annotations

import time
from typing import Final

from edgeway.edge.balancing import TargetState, UpstreamPlan
from edgeway.edge.balancing.breaker import BreakerState
from edgeway.edge.proxy.errors import EdgeError, UpstreamTimeout, UpstreamUnavailable
from edgeway.edge.proxy.headers import request_head
from edgeway.edge.proxy.policed import PolicedExchange
from edgeway.edge.proxy.upstream import TargetPool, UpstreamConnection

__all__ = ["IDEMPOTENT", "AttemptExchange"]

perf_counter: Final = time.perf_counter  # compiled: a C static, not a module dict lookup

IDEMPOTENT: Final = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})


class AttemptExchange(PolicedExchange):
    """Attempts and retries; the response relay is :class:`~.forward.ProxyExchange`'s."""

    upstream: UpstreamPlan | None = None
    index = -1
    tried = 0
    """Bit ``i`` set: target ``i`` was tried."""
    retries = 0
    reached = False
    """Whether this attempt's head was written to a connection (the target may act on it)."""
    counted: TargetState | None = None
    """The target whose in-flight count this attempt holds (least-connections)."""
    probing = False
    """Whether this request is the half-open breaker's probe."""
    request_target = b""
    traceparent = b""
    up_head = b""
    got_bytes = False
    sent_all = False

    def attempt(self, index: int) -> None:
        """Start an attempt on target ``index`` of the upstream."""
        upstream, plan, head = self.upstream, self.plan, self.head
        assert upstream is not None
        assert plan is not None
        target = self.target = upstream.targets[index]
        self.index = index
        self.tried |= 1 << index
        if upstream.least is not None:
            state = self.counted = upstream.states[index]
            state.active += 1
        host = head.host_header if plan.preserve_host and head.host_header else target.host_value
        self.up_head = request_head(head, self.request_target, host, self.traceparent)
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

    def attach(self, up: UpstreamConnection) -> None:
        raise NotImplementedError

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
            self.attempt_failed(UpstreamTimeout(
                f"connecting to {target.address} timed out after {ms} ms"), reached=False)
            return
        except Exception as exc:  # OSError and friends: refused, unreachable, DNS
            self.connecting = None
            why = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            self.attempt_failed(UpstreamUnavailable(
                f"could not connect to {target.address}: {why}"), reached=False)
            return
        self.connecting = None
        if self.done:
            pool.release(up)
        else:
            self.attach(up)

    # -- outcomes -------------------------------------------------------------------------

    def outcome(self, status: int) -> None:
        """The target answered ``status``: a verdict for passive checks and the breaker
        (called for a 5xx, or when the upstream watches its targets)."""
        upstream = self.upstream
        assert upstream is not None
        if status >= 500:
            upstream.failed(self.index, perf_counter())
        else:
            upstream.succeeded(self.index)
        self.probing = False

    def end_probe(self) -> None:
        """This request was the breaker's half-open probe and ends without a verdict."""
        if self.probing:
            self.probing = False
            upstream = self.upstream
            if upstream is not None and upstream.breaker is not None:
                upstream.breaker.abandoned()

    @property
    def holds_target(self) -> bool:
        return self.counted is not None or self.probing

    def release_target(self) -> None:
        counted = self.counted
        if counted is not None:
            self.counted = None
            counted.active -= 1
        self.end_probe()

    def repeatable(self, reached: bool) -> bool:
        """Rule 2 of the module docstring."""
        head, plan = self.head, self.plan
        if not reached:  # its body, if any, is still all in the edge
            return head.method in IDEMPOTENT or (plan is not None and plan.retry_unsent)
        return head.method in IDEMPOTENT and not head.chunked and not head.length

    def attempt_failed(self, error: EdgeError, *, reached: bool, final: bool = False) -> None:
        """This attempt failed (before or while the response is relayed): retry or answer."""
        if self.done:
            return
        upstream, plan = self.upstream, self.plan
        assert upstream is not None
        assert plan is not None
        now = perf_counter()
        if not self.responded:
            upstream.failed(self.index, now)
        self.probing = False
        self.drop_upstream()
        self.release_target()
        if not final and not self.responded and self.retry(reached, now):
            return
        self.upstream_failed(error)

    def retry(self, reached: bool, now: float) -> bool:
        """Start another attempt when the module's rules allow it."""
        upstream, plan = self.upstream, self.plan
        assert upstream is not None
        assert plan is not None
        if self.retries >= plan.attempts or not self.repeatable(reached):
            return False
        breaker = upstream.breaker
        if breaker is not None and breaker.state is not BreakerState.CLOSED:
            return False
        index = upstream.pick(self.head, self.head.params, self.tried, now)
        if index < 0 or not upstream.budget.allow_retry(now, plan.budget_percent):
            return False
        self.retries += 1
        self.reset_attempt()
        self.attempt(index)
        return True

    def stale_retry(self) -> bool:
        """Once per request: the same target again on a new connection, when repeatable."""
        if self.retried or not self.repeatable(True):
            return False
        self.retried = True
        self.reset_attempt()
        self.use_connection(reuse=False)
        return True

    def reset_attempt(self) -> None:
        self.sent_all = False
        self.got_bytes = False
        self.reached = False
        self.up_out.clear()
        if self.first_byte_slot:
            self.rt.deadlines.cancel(self.first_byte_slot, self)
            self.first_byte_slot = 0

    def upstream_failed(self, error: EdgeError) -> None:
        """Give up on the upstream: answer ``error`` or, after the response started, abort."""
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

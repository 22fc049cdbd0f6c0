"""The request side of a route's policy chain, on a real exchange.

:meth:`PolicedExchange.police` makes the request's :class:`~.view.PolicyView` and runs the
chain with :func:`~edgeway.edge.policies.chain.run_request`: hooks are called directly, and only
when one returns an awaitable does the rest run in a task owned by the proxy (the sync fast
path costs no task). Then, on the loop:

- a policy's answer (``LocalResponse``) is sent with the policies' response headers merged in;
  an :class:`~.local.ErrorAnswer` becomes the edge's JSON error;
- otherwise the changes are applied (headers, query, a replaced body) and the request goes on
  to the route's mock or upstream, where :mod:`.respond` runs the response hooks;
- a hook that raises is a 500 ``internal_error`` naming the route (logged with its traceback).

Bodies: before the first hook that reads the body, :meth:`PolicedExchange.load_body` makes it
available, up to the chain's ``buffer_request_body`` (a larger one is answered 413
``payload_too_large``): at once when the request is already read, else the client is asked to
go on (``100 Continue`` when it expects one) and the body is gathered without pausing until it
is complete. A buffered body is forwarded with a ``Content-Length``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

import structlog

from edgeway.edge.policies.base import LocalResponse, Outcome
from edgeway.edge.policies.chain import PolicyChain, run_request
from edgeway.edge.proxy.errors import EdgeError, PayloadTooLarge, RouteNotFound
from edgeway.edge.proxy.exchange import PAUSE_BUFFER, Exchange
from edgeway.edge.proxy.local import CONTINUE, ErrorAnswer
from edgeway.edge.proxy.prepared import RoutePlan
from edgeway.edge.proxy.view import PolicyView
from edgeway.edge.routing import RouteHit

__all__ = ["PolicedExchange"]

log = structlog.get_logger(__name__)


class PolicedExchange(Exchange):
    """An exchange that can run a policy chain; see the module docstring."""

    def police(self, plan: RoutePlan, hit: RouteHit) -> None:
        chain = plan.chain
        assert chain is not None
        head = self.head
        view = self.view = PolicyView(head, plan.id, self.conn.memo)
        view.trace = self.trace
        if plan.preflight_only and head.method == "OPTIONS" and not _preflight(view):
            self.fail(RouteNotFound(f"no route matches OPTIONS {head.host or '(no host)'}"
                                    f"{head.path}"))  # fmt: skip
            return
        try:
            result = run_request(chain, view, self)  # it is the chain's BodySource
        except Exception as exc:
            self.policy_failed(exc)
            return
        if result is None:
            self.proceed(plan, hit)
        elif isinstance(result, LocalResponse):
            self.answer(result)
        else:
            view.task = self.rt.spawn(self._finish(result, plan, hit))

    async def _finish(self, pending: Awaitable[Outcome], plan: RoutePlan, hit: RouteHit
                      ) -> None:  # fmt: skip
        try:
            result = await pending
        except Exception as exc:
            if not self.done:
                self.policy_failed(exc)
                self.flush()
            return
        view = self.view
        if view is not None:
            view.task = None
        if self.done:
            return
        if result is None:
            self.proceed(plan, hit)
        else:
            self.answer(result)
        self.flush_up()
        self.flush()

    def answer(self, response: LocalResponse) -> None:
        """Answer with a policy's response and the policies' response headers."""
        if isinstance(response, ErrorAnswer):
            self.fail(response.error)
            return
        config, view = self.config, self.view
        assert config is not None
        canned = config.canned(response)
        if view is not None and view.answering:
            self.respond(canned, view.response_lines(), view.replaced)
        else:
            self.respond(canned)

    def proceed(self, plan: RoutePlan, hit: RouteHit) -> None:
        """The chain let the request through: apply its changes, then mock or forward."""
        view = self.view
        assert view is not None
        view.apply()
        body = view.body
        if body is not None and (view.body_changed or self.head.chunked):
            head = self.head
            self.pending = [body] if body else None
            self.pending_size = len(body)
            head.chunked = False
            head.length = len(body) if body or view.body_changed else None
        if plan.mock is not None:
            if view.answering:
                self.respond(plan.mock, view.response_lines(), view.replaced)
            else:
                self.respond(plan.mock)
        else:
            self.forward(plan, hit)

    def policy_failed(self, exc: Exception) -> None:
        plan = self.plan
        route = plan.id if plan is not None else "?"
        log.error("policy failed", route=route, error=repr(exc), exc_info=exc)
        self.fail(EdgeError(f"a policy of route {route!r} failed"))

    # -- the request body -------------------------------------------------------------------

    def load_body(self) -> Outcome | Awaitable[Outcome]:
        """Make the whole body available to the policies (see the module docstring)."""
        view, head, plan = self.view, self.head, self.plan
        assert view is not None
        assert plan is not None
        chain = plan.chain
        assert chain is not None
        if view.consumer is not None:
            chain = chain.for_consumer(view.consumer)
        limit = chain.buffer_request_body
        if head.length is None and not head.chunked:
            view.body = b""
            return None
        if (head.length or 0) > limit or self.body_size > limit:
            return _too_large(limit, head.length or self.body_size)
        if self.request_done:
            self._take_body()
            return None
        if head.expect_continue and not self.pending:
            self.conn.write(CONTINUE)
        self.buffering = limit
        waiter = self.body_waiter = self.loop.create_future()
        if self.conn.pauses & PAUSE_BUFFER:
            self.conn.resume(PAUSE_BUFFER)
        return self._body_complete(waiter, chain)

    async def _body_complete(self, waiter: asyncio.Future[bool], chain: PolicyChain
                             ) -> Outcome:  # fmt: skip
        complete = await waiter
        self.body_waiter = None
        if not complete:  # answered 413 already (request_failed)
            return ErrorAnswer.of(PayloadTooLarge("the request body is too large"))
        self._take_body()
        return None

    def _take_body(self) -> None:
        pending = self.pending
        body = pending[0] if pending and len(pending) == 1 else b"".join(pending or ())
        self.pending = [body] if body else None
        self.pending_size = len(body)
        assert self.view is not None
        self.view.body = body


def _preflight(view: PolicyView) -> bool:
    headers = view.headers
    return "origin" in headers and "access-control-request-method" in headers


def _too_large(limit: int, size: int) -> ErrorAnswer:
    return ErrorAnswer.of(PayloadTooLarge(
        f"the request body ({size} bytes) is larger than {limit} bytes, the most this route's "
        "policies read"))  # fmt: skip

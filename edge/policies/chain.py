"""A route's policy chain made ready to run, and the reference runner of the contract.

:func:`prepare_chain` turns a route's :class:`PolicyStep` tuple into a :class:`PolicyChain`
once per config version: the request hooks in phase order, the response hooks in response-phase
order, and what the chain needs of the proxy (body buffering, a body limit). :func:`run_request`
and :func:`run_response` run a chain the way :mod:`.base` promises: sync hooks are called
directly and the runner becomes a coroutine only at the first awaitable result; after the
authentication phase, an authenticated consumer's own policies join the chain
(:meth:`PolicyChain.for_consumer`, merged once per consumer and cached).

Plugin steps are the proxy's: ``plugin_hook`` turns one into a handler (or ``None`` to leave it
out), so plugins run in the same chain at their place, like a built-in. Adjacent handlers of
one phase may :meth:`~.base.PolicyHandler.join` into one that does both at once.

Request bodies: a chain that needs the body says from which hook on (``body_from``); the proxy
passes a :class:`BodySource` to :func:`run_request`, whose ``load_body()`` is called once just
before that hook (a consumer's policies may need the body where the route's do not). It returns
like a hook: ``None`` once :attr:`~.base.Request.body` is there, an answer (a 413), or an awaitable
of either while the body is still arriving. So a request refused before that point (a 401) is
refused without its body being read.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, Protocol

from edgeway.edge.policies.base import (
    Exchange,
    LocalResponse,
    Outcome,
    Phase,
    PolicyHandler,
    Response,
)

if TYPE_CHECKING:
    from edgeway.edge.compile.model import CompiledConfig, CompiledConsumer, PolicyStep
    from edgeway.edge.policies.services import Services

__all__ = [
    "BodySource",
    "PluginHook",
    "PolicyChain",
    "RequestHook",
    "ResponseHook",
    "bind_handlers",
    "prepare_chain",
    "run_request",
    "run_response",
]

RequestHook = Callable[[Exchange], Outcome | Awaitable[Outcome]]
ResponseHook = Callable[[Exchange, Response], Awaitable[None] | None]
PluginHook = Callable[["PolicyStep"], PolicyHandler | None]

_AUTH_RANK: Final = Phase.AUTHENTICATION.rank


class BodySource(Protocol):
    """What makes the request body available to the hooks (the proxy's exchange)."""

    def load_body(self) -> Outcome | Awaitable[Outcome]:
        """``None`` once :attr:`~.base.Request.body` is set, an answer (a 413), or an awaitable
        of either while the body is still arriving."""


def _no_plugins(step: PolicyStep) -> PolicyHandler | None:
    return None


@dataclass(slots=True, eq=False)
class PolicyChain:
    """Hooks of one route (or route and consumer) in order, and the chain's needs."""

    steps: tuple[PolicyStep, ...]
    request: tuple[RequestHook, ...]
    response: tuple[ResponseHook, ...]
    after_auth: int
    """Index of the first request hook after the authentication phase."""
    buffer_request_body: int
    body_from: int
    """Index of the first request hook that reads the body (``len(request)``: none does)."""
    buffer_response_body: int
    body_limit: int | None
    plugin_hook: PluginHook
    merged: bool = False
    """Whether a consumer's policies are already in (a merged chain is never merged again)."""
    _by_consumer: dict[str, PolicyChain] = field(default_factory=dict)

    def for_consumer(self, consumer: CompiledConsumer) -> PolicyChain:
        """This chain with ``consumer``'s policies merged in (those after authentication)."""
        if not consumer.policies or self.merged:
            return self
        found = self._by_consumer.get(consumer.name)
        if found is None:
            extra = [s for s in consumer.policies if s.phase.rank > _AUTH_RANK]
            found = prepare_chain((*self.steps, *extra), self.plugin_hook)
            found.merged = True
            self._by_consumer[consumer.name] = found
        return found


def _overridden(handler: PolicyHandler, name: str) -> bool:
    return getattr(type(handler), name) is not getattr(PolicyHandler, name)


def prepare_chain(steps: Iterable[PolicyStep], plugin_hook: PluginHook = _no_plugins
                  ) -> PolicyChain:  # fmt: skip
    """The chain of ``steps`` (any order: sorted here by phase, priority, then as given)."""
    ordered = sorted(enumerate(steps), key=lambda p: (p[1].phase.rank, -p[1].priority, p[0]))
    handlers = _handlers(ordered, plugin_hook)
    request: list[RequestHook] = []
    response: list[tuple[int, int, int, ResponseHook]] = []
    after_auth: int | None = None
    buffer_request = buffer_response = 0
    body_from: int | None = None
    limits: list[int] = []
    for index, step, handler in handlers:
        if step.phase.rank > _AUTH_RANK and after_auth is None:
            after_auth = len(request)
        if not step.phase.on_response and _overridden(handler, "on_request"):
            if handler.buffer_request_body and body_from is None:
                body_from = len(request)
            request.append(handler.on_request)
        phase = handler.RESPONSE_PHASE or (step.phase if step.phase.on_response else None)
        if phase is not None and _overridden(handler, "on_response"):
            response.append((phase.rank, -step.priority, index, handler.on_response))
        buffer_request = max(buffer_request, handler.buffer_request_body)
        buffer_response = max(buffer_response, handler.buffer_response_body)
        if handler.body_limit is not None:
            limits.append(handler.body_limit)
    response.sort(key=lambda r: r[:3])
    return PolicyChain(
        steps=tuple(step for _, step in ordered),
        request=tuple(request),
        response=tuple(r[3] for r in response),
        after_auth=len(request) if after_auth is None else after_auth,
        buffer_request_body=buffer_request,
        body_from=len(request) if body_from is None else body_from,
        buffer_response_body=buffer_response,
        body_limit=min(limits) if limits else None,
        plugin_hook=plugin_hook,
    )


def _handlers(ordered: list[tuple[int, PolicyStep]], plugin_hook: PluginHook
              ) -> list[tuple[int, PolicyStep, PolicyHandler]]:  # fmt: skip
    """Each step's handler (plugins through ``plugin_hook``), adjacent ones of a phase joined
    when they can run at once."""
    found: list[tuple[int, PolicyStep, PolicyHandler]] = []
    for index, step in ordered:
        handler = step.handler if step.handler is not None else plugin_hook(step)
        if handler is None:
            continue
        if found and found[-1][1].phase is step.phase:
            joined = found[-1][2].join(handler)
            if joined is not None:
                found[-1] = (found[-1][0], found[-1][1], joined)
                continue
        found.append((index, step, handler))
    return found


def run_request(
    chain: PolicyChain, exchange: Exchange, body: BodySource | None = None
) -> Outcome | Awaitable[Outcome]:
    """Run the request hooks: ``None`` (forward), a response, or an awaitable of either.
    ``body.load_body()`` (see the module docstring) runs before the first hook that reads the
    body."""
    return _run_from(chain, exchange, 0, body)


def _run_from(
    chain: PolicyChain, exchange: Exchange, index: int, body: BodySource | None
) -> Outcome | Awaitable[Outcome]:
    """The hooks from ``index`` on, called directly until one returns an awaitable."""
    hooks = chain.request
    while True:
        if index == chain.after_auth and exchange.consumer is not None:
            chain = chain.for_consumer(exchange.consumer)
            hooks = chain.request
        if index >= len(hooks):
            return None
        if body is not None and index >= chain.body_from:
            result = body.load_body()
            body = None
        else:
            result = hooks[index](exchange)
            index += 1
        if result is None:
            continue
        if isinstance(result, LocalResponse):
            return result
        return _continue(chain, exchange, index, result, body)


async def _continue(
    chain: PolicyChain,
    exchange: Exchange,
    index: int,
    pending: Awaitable[Outcome],
    body: BodySource | None,
) -> Outcome:
    """Await ``pending``, then go on with the hooks after it (:func:`_run_from`)."""
    result = await pending
    if result is not None:
        return result
    rest = _run_from(chain, exchange, index, body)
    if rest is None or isinstance(rest, LocalResponse):
        return rest
    return await rest


def run_response(
    chain: PolicyChain, exchange: Exchange, response: Response
) -> Awaitable[None] | None:
    """Run the response hooks of the chain the request ran on (consumer merged)."""
    if exchange.consumer is not None:
        chain = chain.for_consumer(exchange.consumer)
    hooks = chain.response
    for index, hook in enumerate(hooks):
        result = hook(exchange, response)
        if result is not None:
            return _continue_response(hooks, index + 1, exchange, response, result)
    return None


async def _continue_response(
    hooks: tuple[ResponseHook, ...],
    index: int,
    exchange: Exchange,
    response: Response,
    pending: Awaitable[None],
) -> None:
    await pending
    for hook in hooks[index:]:
        result = hook(exchange, response)
        if result is not None:
            await result


def bind_handlers(compiled: CompiledConfig, services: Services) -> int:
    """Bind every distinct handler of ``compiled`` (routes, global and consumer policies) to
    ``services``; returns how many. Call once per config version before it serves."""
    seen: dict[int, PolicyHandler] = {}
    groups: list[Iterable[PolicyStep]] = [compiled.global_policies]
    groups += [route.policies for route in compiled.routes]
    groups += [consumer.policies for consumer in compiled.consumers.values()]
    for group in groups:
        for step in group:
            if step.handler is not None and id(step.handler) not in seen:
                seen[id(step.handler)] = step.handler
                step.handler.bind(compiled, services)
    return len(seen)

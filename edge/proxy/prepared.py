"""A config version made ready to serve: router, per-route plans, upstream plans, canned
responses.

:func:`prepare` is pure (no loop, no sockets), so it can run in a thread; it does every piece
of work that depends only on the config (router, balancers, hash rings, rendered mocks), so a
request only looks things up. The proxy binds the upstream targets to its long-lived
connection pools and target states when it installs the version (:meth:`PreparedConfig.bind`
and :class:`~edgeway.edge.balancing.LiveUpstreams`), on the loop.

Policies: every handler of the version is bound to the edge's policy ``Services``
(:func:`~edgeway.edge.policies.chain.bind_handlers`: no I/O, so this may run in a thread
too), then each route's steps become a
:class:`~edgeway.edge.policies.chain.PolicyChain` (``None`` for a route without hooks: it pays
nothing). Plugin steps become the proxy's plugin handlers (``plugins``, see :mod:`.plugged`);
prepared without them, a fail-closed plugin answers 503 ``plugin_unavailable`` and a fail-open
one is left out, as its failure mode says. A route's body limit is the smaller of its own and
its chain's.

:meth:`PreparedConfig.canned` renders a policy's ``LocalResponse`` once per object and keeps the
rendering only while the object lives (a weak reference), so prebuilt answers (a 401, a 429)
render once and per-request ones (a 400 listing violations, a cache hit) do not pile up.
"""

from __future__ import annotations

import ssl
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import structlog

from edgeway.edge.balancing import TargetPlan, UpstreamPlan
from edgeway.edge.compile.model import (
    CompiledConfig,
    CompiledRoute,
    PolicyStep,
    RequestLimits,
    RewriteTemplate,
)
from edgeway.edge.policies.base import Exchange, LocalResponse, Outcome, Phase, PolicyHandler
from edgeway.edge.policies.chain import PluginHook, PolicyChain, bind_handlers, prepare_chain
from edgeway.edge.policies.services import Services
from edgeway.edge.proxy.errors import PluginUnavailable
from edgeway.edge.proxy.local import Canned, ErrorAnswer
from edgeway.edge.proxy.upstream import TargetPool
from edgeway.edge.routing import Router, compile_router, served_methods

__all__ = ["PreparedConfig", "RoutePlan", "RoutePlugins", "TargetPlan", "UpstreamPlan", "prepare"]

log = structlog.get_logger(__name__)


@dataclass(frozen=True, eq=False)
class RoutePlan:
    """What serving one route takes, decided once per version."""

    route: CompiledRoute
    id: str
    chain: PolicyChain | None
    """The route's policies (``None``: it has none that run)."""
    preflight_only: bool
    """``OPTIONS`` is matched only for the ``cors`` policy's preflights (see the router)."""
    mock: Canned | None
    upstream: UpstreamPlan | None
    strip_path: bool
    rewrite: RewriteTemplate | None
    preserve_host: bool
    connect_s: float
    first_byte_s: float | None
    """``None`` when it equals the total timeout (no separate timer needed)."""
    total_s: float
    attempts: int
    """Retries allowed after the first attempt (0: none)."""
    budget_percent: int
    retry_unsent: bool
    """Whether a non-idempotent request is retried when it never reached a target."""
    max_body: int
    """The smaller of the route's body limit and its chain's."""


@dataclass(eq=False)
class PreparedConfig:
    """A compiled config version, prepared; see the module docstring. ``requests`` and
    ``errors`` count what was served on it (5xx answers are errors)."""

    version: int
    config_hash: str
    compiled: CompiledConfig
    router: Router
    plans: tuple[RoutePlan, ...]
    """By ``route.index``."""
    upstreams: Mapping[str, UpstreamPlan]
    limits: RequestLimits
    tls: ssl.SSLContext | None = None
    """The client TLS context of ``https`` targets (system CAs; loading them is blocking I/O,
    so it is made here, off the loop)."""
    requests: int = 0
    errors: int = 0
    _canned: dict[int, tuple[weakref.ref[LocalResponse], Canned]] = field(default_factory=dict)

    def canned(self, response: LocalResponse) -> Canned:
        """``response`` rendered, once per object while it lives (see the module docstring)."""
        key = id(response)
        found = self._canned.get(key)
        if found is not None and found[0]() is response:
            return found[1]
        canned = Canned(response)
        table = self._canned

        def forget(_: weakref.ref[LocalResponse]) -> None:
            entry = table.get(key)
            if entry is not None and entry[0]() is None:
                del table[key]

        table[key] = (weakref.ref(response, forget), canned)
        return canned

    def targets(self) -> list[TargetPlan]:
        return [target for up in self.upstreams.values() for target in up.targets]

    def bind(self, pools: dict[str, TargetPool]) -> None:
        """Point every target at its pool in ``pools``, creating missing ones (on the loop)."""
        for target in self.targets():
            pool = pools.get(target.key)
            if pool is None:
                https = target.key.startswith("https:")
                pool = pools[target.key] = TargetPool(
                    target.key, target.host, target.port, self.tls if https else None,
                    target.max_idle,
                )
            pool.max_idle = max(pool.max_idle, target.max_idle)
            target.pool = pool


RoutePlugins = Callable[[CompiledRoute], PluginHook]
"""Makes the plugin hook of a route (the proxy's :func:`~.plugged.plugin_hook`)."""


class _Unavailable(PolicyHandler):
    """A plugin step when the proxy has no plugin client (:func:`prepare` without ``plugins``):
    a fail-closed plugin answers 503, as its failure mode says."""

    NAME = "plugin"
    VERSION = "1"
    PHASE = Phase.PLUGINS
    PRIORITY = 0

    def __init__(self, plugin: str) -> None:
        super().__init__({})
        self.answer = ErrorAnswer.of(PluginUnavailable(
            f"plugin {plugin!r} cannot be called: this proxy has no plugin client"))

    def on_request(self, exchange: Exchange) -> Outcome:
        return self.answer


def _no_client(compiled: CompiledConfig, route: CompiledRoute) -> PluginHook:
    def hook(step: PolicyStep) -> PolicyHandler | None:
        plugin = compiled.plugins.get(step.plugin or "")
        mode = plugin.failure_mode if plugin is not None else "closed"
        log.warning("no plugin client: plugin not called", plugin=step.plugin, mode=mode,
                    route=route.id, effect="skipped" if mode == "open" else "503")
        return None if mode == "open" else _Unavailable(step.plugin or "?")

    return hook


def _chain(route: CompiledRoute, compiled: CompiledConfig, plugins: RoutePlugins | None
           ) -> PolicyChain | None:  # fmt: skip
    if not route.policies:
        return None
    hook = plugins(route) if plugins is not None else _no_client(compiled, route)
    chain = prepare_chain(route.policies, hook)
    if not chain.request and not chain.response and chain.body_limit is None:
        return None
    return chain


def _plan(route: CompiledRoute, compiled: CompiledConfig, upstreams: Mapping[str, UpstreamPlan],
          plugins: RoutePlugins | None) -> RoutePlan:  # fmt: skip
    t, retries = route.timeouts, route.retries
    chain = _chain(route, compiled, plugins)
    limit = chain.body_limit if chain is not None else None
    return RoutePlan(
        route=route,
        id=route.id,
        chain=chain,
        preflight_only="OPTIONS" in served_methods(route) - route.match.methods,
        mock=Canned(route.mock) if route.mock is not None else None,
        upstream=upstreams[route.upstream.name] if route.upstream is not None else None,
        strip_path=route.strip_path,
        rewrite=route.rewrite,
        preserve_host=route.preserve_host,
        connect_s=t.connect_ms / 1000,
        first_byte_s=t.first_byte_ms / 1000 if t.first_byte_ms < t.total_ms else None,
        total_s=t.total_ms / 1000,
        attempts=retries.attempts if retries.budget_percent > 0 else 0,
        budget_percent=retries.budget_percent,
        retry_unsent=retries.on_connect_failure,
        max_body=route.max_body_bytes if limit is None else min(limit, route.max_body_bytes),
    )


def prepare(compiled: CompiledConfig, *, version: int, config_hash: str,
            services: Services | None = None, plugins: RoutePlugins | None = None
            ) -> PreparedConfig:  # fmt: skip
    """Everything serving ``compiled`` needs, built once (no I/O: safe off the event loop).
    Its policy handlers are bound to ``services`` (default: services without Redis); plugin
    steps become what ``plugins`` makes of them (default: a 503, or skipped when fail-open)."""
    bind_handlers(compiled, services if services is not None else Services())
    used = {route.upstream.name for route in compiled.routes if route.upstream is not None}
    upstreams = {
        name: UpstreamPlan(pool)
        for name, pool in compiled.upstreams.items()
        if name in used and any(t.weight > 0 for t in pool.targets)
    }
    plans = tuple(_plan(route, compiled, upstreams, plugins) for route in compiled.routes)
    if any(plan.route.index != index for index, plan in enumerate(plans)):
        raise ValueError("compiled routes must be in config order (routes[i].index == i)")
    return PreparedConfig(
        version=version,
        config_hash=config_hash,
        compiled=compiled,
        router=compile_router(compiled),
        plans=plans,
        upstreams=MappingProxyType(upstreams),
        limits=compiled.limits,
        tls=ssl.create_default_context() if any(u.scheme == "https" for u in upstreams.values())
        else None,
    )

"""A config version made ready to serve: router, per-route plans, upstream plans, canned
responses.

:func:`prepare` is pure (no loop, no sockets), so it can run in a thread; it does every piece
of work that depends only on the config (router, balancers, hash rings, rendered mocks), so a
request only looks things up. The proxy binds the upstream targets to its long-lived
connection pools and target states when it installs the version (:meth:`PreparedConfig.bind`
and :class:`~edgeway.edge.balancing.LiveUpstreams`), on the loop.

A route's request-phase policy chain becomes a tuple of hooks in phase order, each taking the
request and returning ``None`` (go on), a ``LocalResponse`` (answer it) or an ``EdgeError``.
Built-in handlers contribute their ``on_request``; plugin steps cannot be called yet (the plugin
client comes later), so a fail-closed plugin answers 503 ``plugin_unavailable`` and a fail-open
one is skipped, as its failure mode says. Response-phase steps are kept on the plan for later.
"""

from __future__ import annotations

import ssl
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
from edgeway.edge.policies.base import LocalResponse, PolicyHandler, Request
from edgeway.edge.proxy.errors import EdgeError, PluginUnavailable
from edgeway.edge.proxy.local import Canned
from edgeway.edge.proxy.upstream import TargetPool
from edgeway.edge.routing import Router, compile_router

__all__ = ["Hook", "PreparedConfig", "RoutePlan", "TargetPlan", "UpstreamPlan", "prepare"]

log = structlog.get_logger(__name__)

Hook = Callable[[Request], LocalResponse | EdgeError | None]


@dataclass(frozen=True, slots=True, eq=False)
class RoutePlan:
    """What serving one route takes, decided once per version."""

    route: CompiledRoute
    id: str
    hooks: tuple[Hook, ...]
    response_steps: tuple[PolicyStep, ...]
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


@dataclass(slots=True, eq=False)
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
    _canned: dict[int, tuple[LocalResponse, Canned]] = field(default_factory=dict)

    def canned(self, response: LocalResponse) -> Canned:
        """``response`` rendered, once per object (policy handlers return prebuilt ones)."""
        found = self._canned.get(id(response))
        if found is None or found[0] is not response:
            found = self._canned[id(response)] = (response, Canned(response))
        return found[1]

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


def _plugin_hook(name: str) -> Hook:
    error = PluginUnavailable(f"plugin {name!r} cannot be called: the plugin client is not there")

    def unavailable(request: Request) -> EdgeError:
        return error

    return unavailable


def _hooks(route: CompiledRoute, compiled: CompiledConfig) -> tuple[Hook, ...]:
    hooks: list[Hook] = []
    for step in route.policies:
        if step.phase.on_response:
            continue
        handler = step.handler
        if handler is not None:
            if type(handler).on_request is not PolicyHandler.on_request:
                hooks.append(handler.on_request)
        elif step.plugin is not None:
            plugin = compiled.plugins.get(step.plugin)
            mode = plugin.failure_mode if plugin is not None else "closed"
            log.warning("plugin calls are not available yet", plugin=step.plugin, mode=mode,
                        route=route.id, effect="skipped" if mode == "open" else "503")
            if mode != "open":
                hooks.append(_plugin_hook(step.plugin))
    return tuple(hooks)


def _plan(route: CompiledRoute, compiled: CompiledConfig, upstreams: Mapping[str, UpstreamPlan]
          ) -> RoutePlan:
    t, retries = route.timeouts, route.retries
    return RoutePlan(
        route=route,
        id=route.id,
        hooks=_hooks(route, compiled),
        response_steps=tuple(step for step in route.policies if step.phase.on_response),
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
        max_body=route.max_body_bytes,
    )


def prepare(compiled: CompiledConfig, *, version: int, config_hash: str) -> PreparedConfig:
    """Everything serving ``compiled`` needs, built once (pure: safe off the event loop)."""
    used = {route.upstream.name for route in compiled.routes if route.upstream is not None}
    upstreams = {
        name: UpstreamPlan(pool)
        for name, pool in compiled.upstreams.items()
        if name in used and any(t.weight > 0 for t in pool.targets)
    }
    plans = tuple(_plan(route, compiled, upstreams) for route in compiled.routes)
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

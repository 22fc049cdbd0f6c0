"""``EdgeProxy``: the edge's HTTP reverse proxy, its lifecycle and its config swaps.

The proxy serves whatever config version was installed last. A version is prepared first
(router, route plans, balancers, canned responses: :func:`~.prepared.prepare`, pure, so the
caller may run it in a thread) and then installed on the loop with one assignment; requests
already in flight finish on the version they started with, keep-alive connections pick up the
new one with their next request. Upstream connection pools are kept per target address across
versions; a target no version uses any more has its pool retired. Target health, circuit
breakers and retry budgets are kept across versions too, and the active health probers are
kept, replaced or cancelled to match the installed version
(:class:`~edgeway.edge.balancing.LiveUpstreams`).

``stop()`` stops accepting, lets the requests in flight finish (closing their connections after
the response), closes idle keep-alive connections at once, waits up to ``drain_timeout``, then
aborts what is left, cancels every task the proxy owns and the health probers, closes the
upstream pools and flushes the access log.

Policies: the proxy binds every config version's handlers to its
:class:`~edgeway.edge.policies.services.Services` (Redis, an HTTP session, state kept across
versions) while preparing it. The edge node makes one per process (``--redis``) and closes it;
a proxy made without one makes its own, without Redis, and closes it when it stops.

Plugins: the proxy keeps one :class:`~edgeway.edge.plugins.PluginClients` (long-lived
channels and streams, breakers, verdict caches) for every version it serves. :meth:`load`
compiles a version, brings the clients to its ``plugins`` (describing new endpoints, within
``DESCRIBE_BUDGET`` seconds) and then prepares it, so each plugin step knows what its plugin
declared (:mod:`.plugged`). ``stop()`` ships buffered ``OnLog`` entries and closes them.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import Callable
from typing import Any, Final

import structlog
from opentelemetry.trace import TracerProvider

from edgeway.edge.accesslog import AccessLog
from edgeway.edge.compile.model import CompiledConfig, CompiledRoute
from edgeway.edge.plugins import PluginClients
from edgeway.edge.policies.chain import PluginHook
from edgeway.edge.policies.services import Services
from edgeway.edge.proxy.client import ClientConnection
from edgeway.edge.proxy.deadlines import Deadlines
from edgeway.edge.proxy.limits import GC_THRESHOLDS, HOUSEKEEPING_INTERVAL
from edgeway.edge.proxy.plugged import PluginSite, plugin_hook
from edgeway.edge.proxy.prepared import PreparedConfig, prepare
from edgeway.edge.proxy.runtime import Runtime
from edgeway.edge.proxy.tracing import Tracing

__all__ = ["EdgeProxy"]

log = structlog.get_logger(__name__)

DESCRIBE_BUDGET: Final = 1.0
"""Seconds a version's install waits for new plugin endpoints to answer ``Describe``."""


class EdgeProxy:
    """The edge's proxy; see the module docstring.

    ``access_log``: where request lines go (``None``: not logged); it is bound to this node's
    ``node``, ``stage`` and ``region``. ``tracer_provider``: the provider spans are made with,
    default the global one (``edgeway.common.telemetry.configure_tracing``), looked up when the
    proxy starts and whenever a config version is installed.
    """

    def __init__(
        self,
        *,
        node_id: str,
        stage: str,
        region: str,
        access_log: AccessLog | None = None,
        tracer_provider: TracerProvider | None = None,
        services: Services | None = None,
    ) -> None:
        self.node_id = node_id
        self.stage = stage
        self.region = region
        if access_log is not None:
            access_log.bind(node=node_id, stage=stage, region=region)
        self._rt = Runtime(Tracing(tracer_provider), access_log)
        self._server: asyncio.Server | None = None
        self._housekeeping: asyncio.Task[None] | None = None
        self._retired: list[PreparedConfig] = []
        self.services = services if services is not None else Services()
        self._owns_services = services is None
        self.plugins = PluginClients({})

    # -- config ---------------------------------------------------------------------------

    @property
    def current(self) -> tuple[int, str] | None:
        """``(version, hash)`` of the config being served, ``None`` before the first."""
        config = self._rt.config
        return None if config is None else (config.version, config.config_hash)

    def prepare(self, compiled: CompiledConfig, *, version: int, config_hash: str
                ) -> PreparedConfig:
        """Build what serving ``compiled`` takes, its policies bound to the proxy's services.
        No I/O: may run in a thread."""
        site = PluginSite(self.plugins, self.stage, version, compiled.variables)

        def plugins(route: CompiledRoute) -> PluginHook:
            return plugin_hook(site, route)

        return prepare(compiled, version=version, config_hash=config_hash,
                       services=self.services, plugins=plugins)

    async def load(self, compile_version: Callable[[], CompiledConfig], *, version: int,
                   config_hash: str) -> PreparedConfig:
        """Compile (in a thread), connect and describe the plugins the version names, then
        prepare it (in a thread): ready for :meth:`install`. Call on the proxy's loop."""
        compiled = await asyncio.to_thread(compile_version)
        await self.plugins.update(compiled.plugins, DESCRIBE_BUDGET)
        return await asyncio.to_thread(self.prepare, compiled, version=version,
                                       config_hash=config_hash)

    def install(self, prepared: PreparedConfig) -> None:
        """Serve ``prepared`` from the next request on (call on the proxy's loop)."""
        rt = self._rt
        prepared.bind(rt.pools)
        rt.live.bind(prepared.upstreams.values())
        rt.tracing.refresh()
        previous, rt.config = rt.config, prepared
        rt.limits = prepared.limits
        rt.live.sync_probers(prepared.upstreams.values(), prepared.tls)
        if previous is not None and previous is not prepared:
            self._retired.append(previous)
        used = {target.key for target in prepared.targets()}
        for key in [key for key in rt.pools if key not in used]:
            rt.pools.pop(key).close()
        log.debug("config installed", version=prepared.version, hash=prepared.config_hash,
                 routes=len(prepared.plans))

    def swap(self, compiled: CompiledConfig, *, version: int, config_hash: str) -> None:
        """:meth:`prepare` then :meth:`install`, on the loop (plugins are described on their
        first call; :meth:`load` describes them first)."""
        self.plugins.adopt(compiled.plugins)
        self.install(self.prepare(compiled, version=version, config_hash=config_hash))

    def take_traffic(self) -> list[tuple[int, int, int]]:
        """``(version, requests, 5xx answers)`` per version since the last call: the current
        version always, earlier ones while they still served requests."""
        result: list[tuple[int, int, int]] = []
        keep: list[PreparedConfig] = []
        for config in self._retired:
            if config.requests or config.errors:
                result.append((config.version, config.requests, config.errors))
                config.requests = config.errors = 0
                keep.append(config)
        self._retired = keep
        current = self._rt.config
        if current is not None:
            result.append((current.version, current.requests, current.errors))
            current.requests = current.errors = 0
        return result

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self, host: str, port: int, *, reuse_port: bool = False) -> int:
        """Listen on ``host:port`` (0: any free port); return the bound port."""
        if self._server is not None:
            raise RuntimeError("the proxy is already started")
        rt = self._rt
        rt.loop = loop = asyncio.get_running_loop()
        gc.set_threshold(*GC_THRESHOLDS)
        rt.deadlines = Deadlines(loop)
        rt.draining = False
        if self._owns_services:
            self.services.closed = False  # started again after a stop
        rt.tracing.refresh()
        if rt.config is not None:  # started again after a stop: pools were closed
            rt.config.bind(rt.pools)
            rt.live.sync_probers(rt.config.upstreams.values(), rt.config.tls)
        self._server = await loop.create_server(
            lambda: ClientConnection(rt), host, port, reuse_port=reuse_port or None, backlog=1024
        )
        self._housekeeping = loop.create_task(self._sweep())
        server: Any = self._server  # uvloop gives lists where the stubs say tuples
        bound = int(server.sockets[0].getsockname()[1])
        log.info("proxy listening", host=host, port=bound, node=self.node_id, stage=self.stage)
        return bound

    async def _sweep(self) -> None:
        rt = self._rt
        assert rt.loop is not None
        while True:
            await asyncio.sleep(HOUSEKEEPING_INTERVAL)
            now = rt.loop.time()
            for conn in list(rt.connections):
                conn.sweep(now)
            for pool in rt.pools.values():
                pool.sweep(now)

    async def stop(self, drain_timeout: float = 10.0) -> None:
        """Stop serving; see the module docstring."""
        rt = self._rt
        server, self._server = self._server, None
        if server is None:
            await rt.live.stop()
            return
        server.close()
        rt.draining = True
        rt.drained.clear()
        for conn in list(rt.connections):
            conn.drain()
        if rt.connections:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(rt.drained.wait(), drain_timeout)
        for conn in list(rt.connections):
            conn.abort()
        tasks = [*rt.tasks, *([self._housekeeping] if self._housekeeping else [])]
        self._housekeeping = None
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await rt.live.stop()
        rt.deadlines.close()
        for pool in rt.pools.values():
            pool.close()
        rt.pools.clear()
        if rt.access_log is not None:
            await rt.access_log.flush()
        if self._owns_services:
            await self.services.aclose()
        await self.plugins.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(server.wait_closed(), 1.0)
        log.info("proxy stopped", node=self.node_id)

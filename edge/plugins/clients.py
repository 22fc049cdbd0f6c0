"""The plugin endpoints of the config a node serves, by name: the edge's plugin client.

Build :class:`PluginClients` from ``CompiledConfig.plugins``, ``await start()`` (Describe every
endpoint, concurrently and within a deadline; an unreachable plugin is described later), then
per request call :meth:`PluginClients.on_request` / :meth:`on_response` with a
:class:`PluginInstance` built once per config version, and :meth:`log` after the exchange.
:meth:`update` swaps in a new config's endpoints and keeps the clients (channels, streams,
caches, breakers) of endpoints whose settings did not change. :meth:`close` ships buffered log
entries and closes every channel.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from types import TracebackType

import structlog

from edgeway.edge.compile.model import CompiledPlugin
from edgeway.edge.plugins.endpoint import EndpointClient
from edgeway.edge.plugins.logs import LogSettings
from edgeway.edge.plugins.outcome import (
    PluginInstance,
    RequestOutcome,
    ResponseOutcome,
    failure_response,
)
from edgeway.v1 import plugin_pb2

__all__ = ["PluginClients"]

log = structlog.get_logger(__name__)

RETIRE_AFTER = 30.0
"""Seconds a replaced endpoint's client stays open for the version before (its requests in
flight, or a version whose install failed), on top of its call timeout."""


class PluginClients:
    """Clients of every plugin endpoint, sharing nothing between endpoints."""

    def __init__(self, plugins: Mapping[str, CompiledPlugin], *,
                 log_settings: LogSettings | None = None, cache_entries: int = 10_000,
                 exchange: bool = True) -> None:
        self._log_settings = log_settings
        self._cache_entries = cache_entries
        self._exchange = exchange
        self._closing: dict[asyncio.Task[None], EndpointClient] = {}
        """Replaced clients, closed when their task ends (or by :meth:`close`)."""
        self.endpoints: dict[str, EndpointClient] = {
            name: self._client(plugin) for name, plugin in plugins.items()
        }

    def _client(self, plugin: CompiledPlugin) -> EndpointClient:
        return EndpointClient(plugin, log_settings=self._log_settings,
                              cache_entries=self._cache_entries, exchange=self._exchange)

    async def __aenter__(self) -> PluginClients:
        await self.start()
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        traceback: TracebackType | None) -> None:
        await self.close()

    async def start(self, timeout: float = 2.0) -> None:  # noqa: ASYNC109 - per Describe
        """Describe every endpoint not described yet (plugins that do not answer within
        ``timeout`` are described lazily on their first call)."""
        pending = [c for c in self.endpoints.values() if c.description is None]
        await asyncio.gather(*(client.describe(timeout) for client in pending))

    async def update(self, plugins: Mapping[str, CompiledPlugin],
                     timeout: float = 2.0) -> None:  # noqa: ASYNC109 - per Describe
        """:meth:`adopt`, then describe the new endpoints (:meth:`start`)."""
        self.adopt(plugins)
        await self.start(timeout)

    def adopt(self, plugins: Mapping[str, CompiledPlugin]) -> None:
        """Serve a new config's endpoints (on the loop; new ones are described on first use):
        unchanged ones keep their client; removed and changed ones are closed in the background
        once the requests of the version before had time to finish (``RETIRE_AFTER``)."""
        current, fresh = self.endpoints, {}
        for name, plugin in plugins.items():
            client = current.get(name)
            fresh[name] = client if client is not None and client.settings == plugin \
                else self._client(plugin)
        retired = [c for name, c in current.items() if fresh.get(name) is not c]
        self.endpoints = fresh
        for client in retired:
            task = asyncio.get_running_loop().create_task(self._retire(client))
            self._closing[task] = client
            task.add_done_callback(self._closing.pop)

    @staticmethod
    async def _retire(client: EndpointClient) -> None:
        await asyncio.sleep(client.timeout + RETIRE_AFTER)
        await client.close()

    def description(self, plugin: str) -> plugin_pb2.PluginDescription | None:
        """What a plugin declared (phases, body access, cache key), once described."""
        client = self.endpoints.get(plugin)
        return None if client is None else client.description

    def wants(self, plugin: str, phase: plugin_pb2.Phase.ValueType) -> bool:
        """Whether a request has to call ``plugin`` in ``phase`` (the proxy skips building the
        call otherwise); ``True`` until the plugin has been described."""
        client = self.endpoints.get(plugin)
        return client is not None and client.wants(phase)

    async def on_request(self, instance: PluginInstance, request: plugin_pb2.HttpRequest,
                         trace: Mapping[str, str] | None = None) -> RequestOutcome:
        """The outcome of ``instance``'s ``on_request`` for ``request``; never raises for a
        plugin's failure (see :class:`RequestOutcome`)."""
        client = self.endpoints.get(instance.plugin)
        if client is None:
            reason = "no such plugin endpoint in the config"
            return RequestOutcome(failure=reason, response=failure_response(
                instance.plugin, reason, request.request_id))
        return await client.on_request(instance, request, trace)

    async def on_response(self, instance: PluginInstance, request: plugin_pb2.HttpRequest,
                          status: int, headers: list[plugin_pb2.HeaderEntry],
                          body: bytes = b"", body_truncated: bool = False,
                          trace: Mapping[str, str] | None = None) -> ResponseOutcome:
        """The outcome of ``instance``'s ``on_response`` for the upstream's response."""
        client = self.endpoints.get(instance.plugin)
        if client is None:
            reason = "no such plugin endpoint in the config"
            return ResponseOutcome(failure=reason, response=failure_response(
                instance.plugin, reason, request.request_id))
        call = plugin_pb2.ResponseCall(request=request, status=status, headers=headers,
                                       body=body, body_truncated=body_truncated)
        return await client.on_response(instance, call, trace)

    def log(self, instance: PluginInstance, entry: plugin_pb2.LogEntry) -> None:
        """Queue a finished exchange for ``instance``'s ``on_log`` (never waits, never raises)."""
        client = self.endpoints.get(instance.plugin)
        if client is not None:
            client.log(instance, entry)

    async def close(self) -> None:
        """Ship buffered log entries and close every endpoint (errors are logged)."""
        clients, self.endpoints = list(self.endpoints.values()), {}
        for task, client in list(self._closing.items()):
            task.cancel()
            clients.append(client)
        results = await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
        for result in results:
            if isinstance(result, Exception):
                log.warning("closing a plugin client failed", error=str(result))

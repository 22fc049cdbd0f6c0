"""One plugin endpoint of the config: its description, guards, failure mode and log shipper.

:class:`EndpointClient` turns a call into an outcome and never raises for a plugin's sake: a
plugin that times out (``timeout_ms``), is down, answers an error or a verdict the edge cannot
apply, or sits behind an open circuit breaker costs at most its deadline, and its failure mode
decides: ``closed`` answers 503 ``plugin_unavailable``, ``open`` goes on with ``failure`` set for
the access log. ``Describe`` runs at start and is retried lazily until it succeeds; the
description says which phases to call, how much body the plugin wants and its cache key.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Final

import grpc
import structlog
from opentelemetry import propagate

from edgeway.common.plugins.transport import CallFailed, Transport
from edgeway.edge.compile import rules
from edgeway.edge.compile.model import CircuitBreakerSettings, CompiledPlugin
from edgeway.edge.plugins.guards import BreakerState, CircuitBreaker, KeyBuilder, VerdictCache
from edgeway.edge.plugins.logs import LogSettings, LogShipper
from edgeway.edge.plugins.outcome import (
    PROCEED,
    PluginInstance,
    RequestOutcome,
    ResponseOutcome,
    failure_response,
    request_problem,
    response_problem,
)
from edgeway.edge.plugins.stream import StreamCalls
from edgeway.v1 import plugin_pb2

__all__ = ["DEFAULT_BREAKER", "EndpointClient", "EndpointStats", "address_of"]

log = structlog.get_logger(__name__)

DEFAULT_BREAKER = CircuitBreakerSettings(rules.FAILURE_THRESHOLD.default, rules.OPEN_MS.default)
"""Used when an endpoint configures no ``circuit_breaker``."""
_DESCRIBE_RETRY: Final = 1.0  # seconds between Describe attempts while a plugin is unreachable


def address_of(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclass
class EndpointStats:
    """Counters of one endpoint, for metrics (``edgeway_plugin_errors_total``, ...)."""

    calls: int = 0
    failures: int = 0
    rejected_by_breaker: int = 0
    cache_hits: int = 0


class EndpointClient:
    """Calls one plugin endpoint with its timeout, failure mode, breaker and verdict cache."""

    def __init__(self, plugin: CompiledPlugin, *, log_settings: LogSettings | None = None,
                 cache_entries: int = 10_000, exchange: bool = True) -> None:
        self.settings = plugin
        self.name = plugin.name
        self.addresses = [address_of(host, port) for host, port in plugin.endpoints]
        self.timeout = plugin.timeout_ms / 1000
        self.fail_open = plugin.failure_mode == "open"
        self.transport = Transport(plugin.name, self.addresses)
        self.streams = StreamCalls(list(plugin.endpoints), self.addresses)
        self.exchange = exchange
        """Calls go over the Exchange stream; turned off when the plugin has none."""
        self.breaker = CircuitBreaker(plugin.circuit_breaker or DEFAULT_BREAKER)
        self.cache: VerdictCache[RequestOutcome] | None = (
            VerdictCache(plugin.cache_ttl_ms / 1000, cache_entries)
            if plugin.cache_ttl_ms > 0 else None
        )  # fmt: skip
        self.stats = EndpointStats()
        self.description: plugin_pb2.PluginDescription | None = None
        self._phases: frozenset[int] = frozenset()
        self._request_body = self._response_body = 0
        self._keys: KeyBuilder | None = None
        self._describing: asyncio.Task[None] | None = None
        self._described_at = -_DESCRIBE_RETRY
        self.logs = LogShipper(plugin.name, self._send_logs, log_settings)

    # -- description --------------------------------------------------------------------
    async def describe(self, budget: float | None = None) -> plugin_pb2.PluginDescription | None:
        """Ask the plugin for its description (cached); ``None`` when it cannot be reached."""
        self._described_at = time.monotonic()
        try:
            description = await self.transport.describe(budget or max(self.timeout, 1.0))
        except CallFailed as failure:
            log.warning("plugin not described", plugin=self.name, endpoints=self.addresses,
                        error=failure.reason)
            return None
        if self.description is None:
            log.info("plugin described", plugin=self.name, version=description.version,
                     phases=[plugin_pb2.Phase.Name(p) for p in description.phases])
        self.description = description
        self._phases = frozenset(description.phases)
        self._request_body = description.request_body.max_bytes \
            if description.request_body.wanted else 0
        self._response_body = description.response_body.max_bytes \
            if description.response_body.wanted else 0
        has_key = description.HasField("cache_key") and self.cache is not None
        self._keys = KeyBuilder(description.cache_key) if has_key else None
        return description

    def _describe_later(self) -> None:
        if self._describing is not None or time.monotonic() - self._described_at < _DESCRIBE_RETRY:
            return

        async def run() -> None:
            try:
                await self.describe()
            finally:
                self._describing = None

        self._describing = asyncio.get_running_loop().create_task(run())

    def wants(self, phase: plugin_pb2.Phase.ValueType) -> bool:
        """Whether to call ``phase``; unknown before the first Describe: call anyway."""
        if self.description is None:
            self._describe_later()
            return True
        return phase in self._phases

    # -- calls --------------------------------------------------------------------------
    def _failed(self, reason: str, request_id: str) -> str:
        self.stats.failures += 1
        log.warning("plugin call failed", plugin=self.name, reason=reason,
                    mode="open" if self.fail_open else "closed", request_id=request_id)
        return reason

    def _admit(self) -> str | None:
        """``None`` when a call may go out, else why not."""
        if self.breaker.allow():
            return None
        self.stats.rejected_by_breaker += 1
        return f"circuit breaker {self.breaker.state}"

    @property
    def keys(self) -> KeyBuilder | None:
        """How verdicts are keyed (``None``: they are not cached)."""
        return self._keys if self.cache is not None else None

    def cached(self, key: Hashable | None) -> RequestOutcome | None:
        """The cached verdict under ``key`` (from :attr:`keys`; ``None``: not cached), if any."""
        found = self.cached_entry(key)
        return found[1] if found is not None else None

    def cached_entry(self, key: Hashable | None) -> tuple[float, RequestOutcome] | None:
        """:meth:`cached` with the entry's expiry (for :meth:`recalled`)."""
        found = self.cache.entry(key) if self.cache is not None and key is not None else None
        if found is not None:
            self.stats.cache_hits += 1
        return found

    @property
    def generation(self) -> int:
        """The verdict cache's generation (:meth:`VerdictCache.still`)."""
        return self.cache.generation if self.cache is not None else -1

    def recalled(self, until: float, generation: int) -> bool:
        """Whether a verdict :meth:`cached_entry` gave, held by the caller, may be served
        again (counted as a cache hit when so)."""
        if self.cache is not None and self.cache.still(until, generation):
            self.stats.cache_hits += 1
            return True
        return False

    async def on_request(self, instance: PluginInstance, request: plugin_pb2.HttpRequest,
                         trace: Mapping[str, str] | None = None,
                         key: Hashable | None = None) -> RequestOutcome:
        """The plugin's verdict about ``request`` (cached when the plugin declared a key).
        ``trace``: the W3C trace context to send (default: the current context's). ``key``:
        the caller already looked it up (:meth:`cached`) and missed; the verdict goes there."""
        if not self.wants(plugin_pb2.PHASE_REQUEST):
            return PROCEED
        if key is None and self._keys is not None and self.cache is not None:
            key = self._keys(instance.key, request)
            hit = self.cached(key)
            if hit is not None:
                return hit
        if self.description is not None:
            request = _fit(request, self._request_body)
        return await self.ask(instance, request.SerializeToString(), request.request_id,
                              trace if trace is not None else _trace(), key)

    async def ask(self, instance: PluginInstance, request: bytes, request_id: str,
                  trace: Mapping[str, str], key: Hashable | None = None) -> RequestOutcome:
        """:meth:`on_request` for a serialized ``HttpRequest`` (cut to the declared body size
        already) whose cache lookup, if any, missed under ``key``."""
        if not self.wants(plugin_pb2.PHASE_REQUEST):
            return PROCEED
        reason = self._admit()
        if reason is None:
            self.stats.calls += 1
            try:
                verdict = await self._request(request, instance, trace)
                reason = None if verdict is None else request_problem(verdict)
            except CallFailed as failure:
                reason = failure.reason
            if reason is None:
                self.breaker.success()
                outcome = PROCEED if verdict is None else _request_outcome(
                    verdict, self.settings.context_header_prefix)
                if key is not None and self.cache is not None:
                    self.cache.put(key, RequestOutcome(
                        outcome.mutations, outcome.response, cached=True,
                        changes=outcome.changes))  # fmt: skip
                return outcome
            self.breaker.failure()
        reason = self._failed(reason, request_id)
        if self.fail_open:
            return RequestOutcome(failure=reason)
        return RequestOutcome(response=failure_response(self.name, reason, request_id),
                              failure=reason)

    async def on_response(self, instance: PluginInstance, call: plugin_pb2.ResponseCall,
                          trace: Mapping[str, str] | None = None) -> ResponseOutcome:
        """The plugin's changes to the upstream's response described by ``call``."""
        if not self.wants(plugin_pb2.PHASE_RESPONSE):
            return ResponseOutcome()
        reason = self._admit()
        if reason is None:
            self.stats.calls += 1
            call.config.CopyFrom(instance.config)
            if len(call.body) > self._response_body and self.description is not None:
                call.body_truncated = True
                call.body = call.body[:self._response_body]
            if call.request.body and self.description is not None:
                call.request.body = b""  # the request body is not part of the response phase
            try:
                verdict = await self._response(call, trace if trace is not None else _trace())
                reason = response_problem(verdict)
            except CallFailed as failure:
                reason = failure.reason
            if reason is None:
                self.breaker.success()
                return ResponseOutcome(verdict=verdict)
            self.breaker.failure()
        request_id = call.request.request_id
        reason = self._failed(reason, request_id)
        if self.fail_open:
            return ResponseOutcome(failure=reason)
        return ResponseOutcome(response=failure_response(self.name, reason, request_id),
                               failure=reason)

    async def _request(self, request: bytes, instance: PluginInstance,
                       trace: Mapping[str, str]) -> plugin_pb2.RequestVerdict | None:
        """The verdict; ``None`` when it proceeds without changes."""
        if self.exchange:
            try:
                return await self.streams.request(request, instance.wire, self.timeout, trace)
            except CallFailed as failure:
                if failure.code is not grpc.StatusCode.UNIMPLEMENTED:
                    raise
                self._no_exchange()
        call = plugin_pb2.RequestCall(request=plugin_pb2.HttpRequest.FromString(request),
                                      config=instance.config)
        return await self.transport.request(call, self.timeout, trace)

    async def _response(self, call: plugin_pb2.ResponseCall,
                        trace: Mapping[str, str]) -> plugin_pb2.ResponseVerdict:
        if self.exchange:
            try:
                return await self.streams.response(call, self.timeout, trace)
            except CallFailed as failure:
                if failure.code is not grpc.StatusCode.UNIMPLEMENTED:
                    raise
                self._no_exchange()
        return await self.transport.response(call, self.timeout, trace)

    def _no_exchange(self) -> None:
        if self.exchange:
            log.info("plugin has no Exchange stream; using unary calls", plugin=self.name)
            self.exchange = False

    def log(self, instance: PluginInstance, entry: plugin_pb2.LogEntry) -> None:
        """Queue a finished exchange for ``on_log`` (never waits)."""
        if self.description is not None and plugin_pb2.PHASE_LOG not in self._phases:
            return
        self.logs.add(instance, entry)

    async def _send_logs(self, batch: plugin_pb2.LogBatch) -> None:
        if self.description is None and await self.describe() is None:
            raise CallFailed("plugin not reachable")
        if plugin_pb2.PHASE_LOG not in self._phases:
            return
        if self.breaker.state is BreakerState.OPEN:
            raise CallFailed("circuit breaker open")
        try:
            await self.transport.log(batch, self.logs.settings.send_timeout, _trace())
        except CallFailed as failure:
            raise CallFailed(failure.reason) from None

    async def close(self) -> None:
        """Ship the remaining log entries, then close streams and channels."""
        await self.logs.close()
        if self._describing is not None:
            self._describing.cancel()
        await self.streams.close()
        await self.transport.close()


def _trace() -> dict[str, str]:
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def _fit(request: plugin_pb2.HttpRequest, limit: int) -> plugin_pb2.HttpRequest:
    """``request`` with its body cut to what the plugin declared (a copy only when cut)."""
    if len(request.body) <= limit:
        return request
    fitted = plugin_pb2.HttpRequest()
    fitted.CopyFrom(request)
    fitted.body = request.body[:limit]
    fitted.body_truncated = True
    return fitted


def _request_outcome(verdict: plugin_pb2.RequestVerdict, context_prefix: str
                     ) -> RequestOutcome:  # fmt: skip
    outcome = verdict.WhichOneof("outcome")
    if outcome == "proceed" and not verdict.proceed.ByteSize():
        return PROCEED  # the usual verdict: nothing to change
    if outcome == "respond":
        return RequestOutcome(response=verdict.respond)
    if outcome == "proceed":
        return RequestOutcome.proceeding(verdict.proceed, context_prefix=context_prefix)
    return PROCEED

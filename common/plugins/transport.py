"""Unary calls to one plugin endpoint's replicas over long-lived grpc.aio channels.

One channel per address, chosen round robin per call; a call that finds its replica
unavailable tries the next replica within its budget. The control plane uses it for
``Describe`` and ``ValidateConfig``; the edge for those, ``OnLog``, and ``OnRequest`` and
``OnResponse`` of plugins without the Exchange stream (the edge speaks Exchange itself:
``edgeway.edge.plugins.stream``).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import grpc
import structlog

from edgeway.v1 import plugin_pb2, plugin_pb2_grpc

__all__ = ["CallFailed", "Transport", "status_failure"]

log = structlog.get_logger(__name__)

_CHANNEL_OPTIONS = (
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
    ("grpc.max_send_message_length", 64 * 1024 * 1024),
    ("grpc.keepalive_time_ms", 20_000),
    ("grpc.keepalive_timeout_ms", 5_000),
    ("grpc.enable_retries", 0),
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1_000),
)

Metadata = tuple[tuple[str, str], ...]


class CallFailed(Exception):
    """A plugin call did not produce a verdict; ``reason`` says why in a few words."""

    def __init__(self, reason: str, code: grpc.StatusCode | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code

    @property
    def unavailable(self) -> bool:
        """The replica could not be reached (another one may be)."""
        return self.code is grpc.StatusCode.UNAVAILABLE


def status_failure(code: grpc.StatusCode, details: str) -> CallFailed:
    """A call that ended with gRPC status ``code``: the status's name and the first line of
    its ``details`` (at most 200 characters)."""
    lines = details.splitlines()
    first = lines[0][:200] if lines else ""
    return CallFailed(f"{code.name.lower()}: {first}" if first else code.name.lower(), code)


def _rpc_failure(exc: grpc.aio.AioRpcError) -> CallFailed:
    code = exc.code()
    if code is grpc.StatusCode.DEADLINE_EXCEEDED:
        return CallFailed("deadline exceeded", code)
    return status_failure(code, exc.details() or "")


class _Replica:
    def __init__(self, address: str) -> None:
        self.address = address
        self.channel = grpc.aio.insecure_channel(address, options=_CHANNEL_OPTIONS)
        self.stub: Any = plugin_pb2_grpc.PluginStub(self.channel)


class Transport:
    """Calls to the replicas of one plugin endpoint (``addresses`` as ``host:port``)."""

    def __init__(self, name: str, addresses: Sequence[str]) -> None:
        if not addresses:
            raise ValueError(f"plugin {name!r} has no endpoint")
        self.name = name
        self.replicas = [_Replica(address) for address in addresses]
        self._next = itertools.cycle(range(len(self.replicas)))

    def _pick(self) -> _Replica:
        return self.replicas[next(self._next)]

    async def describe(self, budget: float) -> plugin_pb2.PluginDescription:
        result: plugin_pb2.PluginDescription = await self._unary(
            "Describe", plugin_pb2.DescribeRequest(), budget, ())
        return result

    async def validate(self, request: plugin_pb2.ValidateConfigRequest,
                       budget: float) -> plugin_pb2.ValidateConfigResponse:
        result: plugin_pb2.ValidateConfigResponse = await self._unary(
            "ValidateConfig", request, budget, ())
        return result

    async def log(self, batch: plugin_pb2.LogBatch, budget: float,
                  trace: Mapping[str, str]) -> None:
        await self._unary("OnLog", batch, budget, tuple(trace.items()))

    async def request(self, call: plugin_pb2.RequestCall, budget: float,
                      trace: Mapping[str, str]) -> plugin_pb2.RequestVerdict:
        result: plugin_pb2.RequestVerdict = await self._unary("OnRequest", call, budget,
                                                              tuple(trace.items()))
        return result

    async def response(self, call: plugin_pb2.ResponseCall, budget: float,
                       trace: Mapping[str, str]) -> plugin_pb2.ResponseVerdict:
        result: plugin_pb2.ResponseVerdict = await self._unary("OnResponse", call, budget,
                                                               tuple(trace.items()))
        return result

    async def _unary(self, method: str, message: Any, budget: float, metadata: Metadata) -> Any:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + budget
        for attempt in range(len(self.replicas)):
            replica = self._pick()
            try:
                return await getattr(replica.stub, method)(
                    message, timeout=budget, metadata=metadata or None)
            except grpc.aio.AioRpcError as exc:
                failure = _rpc_failure(exc)
            budget = deadline - loop.time()
            if not failure.unavailable or attempt + 1 == len(self.replicas) or budget <= 0:
                raise failure
        raise CallFailed("no replica")  # pragma: no cover

    async def close(self) -> None:
        await asyncio.gather(*(replica.channel.close(None) for replica in self.replicas),
                             return_exceptions=True)

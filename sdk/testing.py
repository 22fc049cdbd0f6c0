"""Test a plugin without the gateway: call its hooks with fake requests, in-process or remote.

In three lines::

    from edgeway.sdk.testing import harness

    async def test_blocks() -> None:
        result = await harness(Stamp()).request(headers={"x-block": "1"})
        assert result.status == 403

:func:`harness` runs the plugin in-process through the same code the server uses (config parsed
and validated as on the wire, views, verdict messages), with no network. :func:`connect` gives
the same interface over gRPC to a running plugin service, and :class:`PluginProcess` starts a
plugin script as a real process and stops it by PID.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Protocol

import grpc
from google.protobuf import struct_pb2
from pydantic import TypeAdapter

from edgeway.sdk._config import ConfigRejected
from edgeway.sdk._plugin import Plugin
from edgeway.sdk._process import PluginProcess, free_port
from edgeway.sdk._runtime import PluginRuntime
from edgeway.sdk._views import Consumer
from edgeway.v1 import plugin_pb2, plugin_pb2_grpc

__all__ = [
    "ConfigRejected",
    "Harness",
    "PluginProcess",
    "RequestResult",
    "ResponseResult",
    "connect",
    "free_port",
    "harness",
    "make_request",
]

Headers = Mapping[str, str] | Sequence[tuple[str, str]]


def _pairs(values: Headers | None) -> list[tuple[str, str]]:
    if values is None:
        return []
    return list(values.items()) if isinstance(values, Mapping) else list(values)


def make_request(
    *, method: str = "GET", path: str = "/", headers: Headers | None = None,
    query: Headers | None = None, body: bytes | str = b"", body_truncated: bool = False,
    consumer: str | Consumer | None = None, client_address: str = "127.0.0.1",
    scheme: str = "http", route_id: str = "test-route", params: Mapping[str, str] | None = None,
    context: Mapping[str, str] | None = None, stage: str = "test",
    variables: Mapping[str, str] | None = None, request_id: str = "test-request",
) -> plugin_pb2.HttpRequest:
    """The request view the edge would send (header names are lower-cased)."""
    message = plugin_pb2.HttpRequest(
        request_id=request_id, method=method, path=path, scheme=scheme,
        client_address=client_address, route_id=route_id, params=dict(params or {}),
        headers=[plugin_pb2.HeaderEntry(name=n.lower(), value=v) for n, v in _pairs(headers)],
        query=[plugin_pb2.QueryEntry(name=n, value=v) for n, v in _pairs(query)],
        body=body.encode() if isinstance(body, str) else body, body_truncated=body_truncated,
        stage=stage, variables=dict(variables or {}), context=dict(context or {}),
    )  # fmt: skip
    if isinstance(consumer, str):
        message.consumer.name = consumer
    elif consumer is not None:
        message.consumer.name = consumer.name
        message.consumer.groups.extend(sorted(consumer.groups))
        message.consumer.tags.update(consumer.tags)
    return message


@dataclass
class RequestResult:
    """What ``on_request`` decided. ``status``/``headers``/``body`` are the direct response
    (``status`` is ``None`` when the request proceeds); the rest are the request's mutations."""

    status: int | None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    set_headers: dict[str, str] = field(default_factory=dict)
    removed_headers: list[str] = field(default_factory=list)
    set_query: dict[str, str] = field(default_factory=dict)
    removed_query: list[str] = field(default_factory=list)
    path: str | None = None
    request_body: bytes | None = None
    context: dict[str, str] = field(default_factory=dict)

    @property
    def proceeded(self) -> bool:
        return self.status is None

    def json(self) -> Any:
        """The direct response's body as JSON."""
        return json.loads(self.body)

    @classmethod
    def of(cls, verdict: plugin_pb2.RequestVerdict) -> RequestResult:
        if verdict.WhichOneof("outcome") == "respond":
            answer = verdict.respond
            return cls(answer.status, {h.name: h.value for h in answer.headers}, answer.body)
        m = verdict.proceed
        return cls(
            None, set_headers={h.name: h.value for h in m.set_headers},
            removed_headers=list(m.remove_headers),
            set_query={q.name: q.value for q in m.set_query}, removed_query=list(m.remove_query),
            path=m.path if m.HasField("path") else None,
            request_body=m.body if m.HasField("body") else None, context=dict(m.context),
        )  # fmt: skip


@dataclass
class ResponseResult:
    """The response after ``on_response``: final ``status``, ``headers`` and ``body``, and
    ``changed`` telling whether the plugin changed anything."""

    status: int
    headers: dict[str, str]
    body: bytes
    changed: bool

    def json(self) -> Any:
        return json.loads(self.body)


class _Transport(Protocol):
    async def describe(self) -> plugin_pb2.PluginDescription: ...
    async def validate(self, m: plugin_pb2.ValidateConfigRequest
                       ) -> plugin_pb2.ValidateConfigResponse: ...
    async def on_request(self, m: plugin_pb2.RequestCall) -> plugin_pb2.RequestVerdict: ...
    async def on_response(self, m: plugin_pb2.ResponseCall) -> plugin_pb2.ResponseVerdict: ...
    async def on_log(self, m: plugin_pb2.LogBatch) -> plugin_pb2.LogAck: ...
    async def close(self) -> None: ...


class _InProcess:
    def __init__(self, plugin: Plugin[Any]) -> None:
        self.runtime = PluginRuntime(plugin)
        self._started = False

    async def _ready(self) -> PluginRuntime:
        if not self._started:
            self._started = True
            await self.runtime.plugin.startup()
        return self.runtime

    async def describe(self) -> plugin_pb2.PluginDescription:
        return self.runtime.description

    async def validate(self, m: plugin_pb2.ValidateConfigRequest
                       ) -> plugin_pb2.ValidateConfigResponse:
        return self.runtime.validate(m)

    async def on_request(self, m: plugin_pb2.RequestCall) -> plugin_pb2.RequestVerdict:
        return await (await self._ready()).on_request(m)

    async def on_response(self, m: plugin_pb2.ResponseCall) -> plugin_pb2.ResponseVerdict:
        return await (await self._ready()).on_response(m)

    async def on_log(self, m: plugin_pb2.LogBatch) -> plugin_pb2.LogAck:
        return await (await self._ready()).on_log(m)

    async def close(self) -> None:
        if self._started:
            self._started = False
            await self.runtime.plugin.shutdown()


class _Remote:
    def __init__(self, address: str, timeout: float) -> None:
        self.channel = grpc.aio.insecure_channel(address)
        self.stub = plugin_pb2_grpc.PluginStub(self.channel)
        self.timeout = timeout

    async def describe(self) -> plugin_pb2.PluginDescription:
        return await self.stub.Describe(plugin_pb2.DescribeRequest(), timeout=self.timeout)

    async def validate(self, m: plugin_pb2.ValidateConfigRequest
                       ) -> plugin_pb2.ValidateConfigResponse:
        return await self.stub.ValidateConfig(m, timeout=self.timeout)

    async def on_request(self, m: plugin_pb2.RequestCall) -> plugin_pb2.RequestVerdict:
        return await self.stub.OnRequest(m, timeout=self.timeout)

    async def on_response(self, m: plugin_pb2.ResponseCall) -> plugin_pb2.ResponseVerdict:
        return await self.stub.OnResponse(m, timeout=self.timeout)

    async def on_log(self, m: plugin_pb2.LogBatch) -> plugin_pb2.LogAck:
        return await self.stub.OnLog(m, timeout=self.timeout)

    async def close(self) -> None:
        await self.channel.close(None)


def _struct(config: Any) -> struct_pb2.Struct:
    data = TypeAdapter(type(config)).dump_python(config, mode="json")
    struct = struct_pb2.Struct()
    struct.update(data)
    return struct


class Harness:
    """Calls a plugin's hooks with fake requests; see :func:`harness` and :func:`connect`.

    ``config`` (JSON data or an instance of the plugin's config type) is the plugin instance's
    config for every call, unless a call passes its own.
    """

    def __init__(self, transport: _Transport, config: Any = None) -> None:
        self._transport = transport
        self._config = _struct({} if config is None else config)

    async def __aenter__(self) -> Harness:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        traceback: TracebackType | None) -> None:
        await self.close()

    async def close(self) -> None:
        """Run the plugin's ``shutdown`` (in-process) or close the channel (remote)."""
        await self._transport.close()

    def _config_for(self, config: Any) -> struct_pb2.Struct:
        return self._config if config is None else _struct(config)

    async def describe(self) -> plugin_pb2.PluginDescription:
        return await self._transport.describe()

    async def validate(self, config: Any) -> list[tuple[str, str]]:
        """The plugin's ``(path, message)`` errors for ``config`` (empty: valid)."""
        answer = await self._transport.validate(
            plugin_pb2.ValidateConfigRequest(config=_struct(config)))
        return [(e.path, e.message) for e in answer.errors]

    async def request(self, *, config: Any = None, **request: Any) -> RequestResult:
        """Call ``on_request``; keyword arguments are those of :func:`make_request`."""
        call = plugin_pb2.RequestCall(call_id=1, request=make_request(**request),
                                      config=self._config_for(config))
        return RequestResult.of(await self._transport.on_request(call))

    async def response(self, *, status: int = 200, headers: Headers | None = None,
                       body: bytes | str = b"", body_truncated: bool = False,
                       config: Any = None, **request: Any) -> ResponseResult:
        """Call ``on_response`` for an upstream response; other keyword arguments describe the
        request it answers (see :func:`make_request`)."""
        pairs = [(n.lower(), v) for n, v in _pairs(headers)]
        call = plugin_pb2.ResponseCall(
            call_id=1, request=make_request(**request), status=status,
            headers=[plugin_pb2.HeaderEntry(name=n, value=v) for n, v in pairs],
            body=body.encode() if isinstance(body, str) else body, body_truncated=body_truncated,
            config=self._config_for(config),
        )  # fmt: skip
        verdict = await self._transport.on_response(call)
        final = dict(pairs)
        for name in verdict.remove_headers:
            final.pop(name, None)
        final.update({h.name: h.value for h in verdict.set_headers})
        changed = bool(verdict.HasField("status") or verdict.HasField("body")
                       or verdict.set_headers or verdict.remove_headers)
        return ResponseResult(
            status=verdict.status if verdict.HasField("status") else status, headers=final,
            body=verdict.body if verdict.HasField("body") else call.body, changed=changed,
        )  # fmt: skip

    async def log(self, *entries: Mapping[str, Any], config: Any = None) -> None:
        """Call ``on_log`` with one batch; each entry is a mapping of ``status``,
        ``bytes_sent``, ``latency_ms``, ``upstream_latency_ms``, ``trace_id``,
        ``plugin_failures``, ``response_headers`` and :func:`make_request` arguments."""
        batch = plugin_pb2.LogBatch(config=self._config_for(config))
        for given in entries:
            fields = dict(given)
            entry = batch.entries.add(
                status=fields.pop("status", 200), bytes_sent=fields.pop("bytes_sent", 0),
                latency_ms=fields.pop("latency_ms", 1.0),
                upstream_latency_ms=fields.pop("upstream_latency_ms", 0.5),
                trace_id=fields.pop("trace_id", ""),
                plugin_failures=list(fields.pop("plugin_failures", ())),
            )  # fmt: skip
            for name, value in _pairs(fields.pop("response_headers", None)):
                entry.response_headers.add(name=name.lower(), value=value)
            entry.request.CopyFrom(make_request(**fields))
        await self._transport.on_log(batch)


def harness(plugin: Plugin[Any], *, config: Any = None) -> Harness:
    """An in-process harness for ``plugin`` (no network); ``TypeError`` when the plugin's
    declarations are incomplete, as ``serve`` would refuse it."""
    return Harness(_InProcess(plugin), config)


def connect(address: str, *, config: Any = None, timeout: float = 5.0) -> Harness:
    """The same harness over gRPC to a plugin service at ``address`` (unary calls)."""
    return Harness(_Remote(address, timeout), config)


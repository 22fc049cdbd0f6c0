"""A plugin behind the wire messages: one code path for the server, the stream and the harness.

:class:`PluginRuntime` checks the plugin's declarations once (``Describe`` is built at start),
parses each call's config into the plugin's typed config (cached per distinct config), builds
the views, runs the hook and turns the result into the reply message. Transport concerns
(deadlines, spans, errors as gRPC statuses) are the server's.
"""

from __future__ import annotations

from typing import Any

from edgeway.sdk._config import ConfigModel, struct_to_python
from edgeway.sdk._plugin import Plugin, config_model_of, describe
from edgeway.sdk._response import Response
from edgeway.sdk._views import LogEntry, Request, ResponseView
from edgeway.sdk._wire import unchanged_proceed
from edgeway.v1 import plugin_pb2

__all__ = ["PluginRuntime"]


class PluginRuntime:
    """Calls one plugin instance's hooks from wire messages."""

    def __init__(self, plugin: Plugin[Any]) -> None:
        self.plugin = plugin
        self.config: ConfigModel[Any] = ConfigModel(config_model_of(type(plugin)))
        self.description = describe(plugin, self.config)
        self.name = self.description.name
        self.version = self.description.version
        self.phases = frozenset(self.description.phases)

    def validate(self, request: plugin_pb2.ValidateConfigRequest
                 ) -> plugin_pb2.ValidateConfigResponse:
        """The plugin's own errors for a config, each with its field path."""
        errors = self.config.errors(struct_to_python(request.config))
        return plugin_pb2.ValidateConfigResponse(
            errors=[plugin_pb2.ConfigError(path=path, message=message) for path, message in errors]
        )

    async def on_request(self, call: plugin_pb2.RequestCall) -> plugin_pb2.RequestVerdict:
        """Run ``on_request``; raises ``ConfigRejected`` or whatever the hook raises."""
        request, result = await self._request(call)
        return _verdict(call.call_id, request, result)

    async def encoded_request(self, call: plugin_pb2.RequestCall) -> bytes:
        """:meth:`on_request`'s verdict serialized (the usual one, proceed without changes,
        written without building the message)."""
        request, result = await self._request(call)
        if result is None and not request._changed():
            return unchanged_proceed(call.call_id)
        return _verdict(call.call_id, request, result).SerializeToString()

    async def _request(self, call: plugin_pb2.RequestCall) -> tuple[Request, Response | None]:
        config = self.config.parse(call.config)
        request = Request(call.request)
        result = await self.plugin.on_request(request, config)
        if result is not None and not isinstance(result, Response):
            raise TypeError(f"on_request must return a Response or None, got {result!r}")
        return request, result

    async def on_response(self, call: plugin_pb2.ResponseCall) -> plugin_pb2.ResponseVerdict:
        """Run ``on_response``; the verdict carries only what the hook changed."""
        config = self.config.parse(call.config)
        response = ResponseView(call)
        await self.plugin.on_response(response, config)
        return response._verdict()

    async def on_log(self, batch: plugin_pb2.LogBatch) -> plugin_pb2.LogAck:
        config = self.config.parse(batch.config)
        await self.plugin.on_log([LogEntry(entry) for entry in batch.entries], config)
        return plugin_pb2.LogAck()


def _verdict(call_id: int, request: Request, result: Response | None
             ) -> plugin_pb2.RequestVerdict:  # fmt: skip
    if result is not None:
        return plugin_pb2.RequestVerdict(call_id=call_id, respond=result._message())
    return plugin_pb2.RequestVerdict(call_id=call_id, proceed=request._mutations())

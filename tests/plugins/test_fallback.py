"""A plugin service without the Exchange stream is called with unary RPCs, and a verdict the
edge cannot apply safely (header injection, bad status) is a failure, not an outcome."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
import pytest_asyncio

from edgeway.edge.plugins import PluginClients, PluginInstance
from edgeway.sdk.testing import make_request
from edgeway.v1 import plugin_pb2
from tests.plugins.conftest import endpoint

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def describe(request: plugin_pb2.DescribeRequest, context: Any
                   ) -> plugin_pb2.PluginDescription:
    return plugin_pb2.PluginDescription(name="bare", version="1", phases=[plugin_pb2.PHASE_REQUEST])


async def on_request(call: plugin_pb2.RequestCall, context: Any) -> plugin_pb2.RequestVerdict:
    if call.request.path == "/inject":
        return plugin_pb2.RequestVerdict(proceed=plugin_pb2.RequestMutations(
            set_headers=[plugin_pb2.HeaderEntry(name="x-a", value="1\r\nx-evil: 1")]))
    if call.request.path == "/status":
        return plugin_pb2.RequestVerdict(respond=plugin_pb2.DirectResponse(status=99))
    return plugin_pb2.RequestVerdict(proceed=plugin_pb2.RequestMutations(
        set_headers=[plugin_pb2.HeaderEntry(name="x-bare", value="yes")]))


@pytest_asyncio.fixture(loop_scope="module")
async def bare_plugin() -> AsyncIterator[int]:
    """A plugin service in this process implementing only Describe and OnRequest."""
    server = grpc.aio.server()
    methods = {
        "Describe": grpc.unary_unary_rpc_method_handler(
            describe, request_deserializer=plugin_pb2.DescribeRequest.FromString,
            response_serializer=plugin_pb2.PluginDescription.SerializeToString),
        "OnRequest": grpc.unary_unary_rpc_method_handler(
            on_request, request_deserializer=plugin_pb2.RequestCall.FromString,
            response_serializer=plugin_pb2.RequestVerdict.SerializeToString),
    }
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler("edgeway.v1.Plugin", methods),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield port
    finally:
        await server.stop(None)


async def test_a_plugin_without_exchange_is_called_unary(bare_plugin: int) -> None:
    async with PluginClients({"bare": endpoint(bare_plugin, name="bare")}) as clients:
        instance = PluginInstance.build("bare", {})
        for _ in range(2):
            outcome = await clients.on_request(instance, make_request())
            assert outcome.failure is None
            assert outcome.mutations is not None
            assert outcome.mutations.set_headers[0].value == "yes"
        assert clients.endpoints["bare"].exchange is False


async def test_verdicts_the_edge_cannot_apply_are_failures(bare_plugin: int) -> None:
    plugin = endpoint(bare_plugin, name="bare", failure_mode="open")
    async with PluginClients({"bare": plugin}, exchange=False) as clients:
        instance = PluginInstance.build("bare", {})
        injected = await clients.on_request(instance, make_request(path="/inject"))
        assert injected.failure == "invalid value for header 'x-a'"
        assert injected.mutations is None
        status = await clients.on_request(instance, make_request(path="/status"))
        assert status.failure == "invalid response status 99"

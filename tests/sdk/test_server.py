"""The SDK's server as a real process: the Exchange stream multiplexes calls by id, every call
honours its deadline, failures become statuses or CallErrors, SIGTERM drains gracefully."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Iterator
from typing import Any

import grpc
import pytest
import pytest_asyncio
from grpc.aio import EOF  # type: ignore[attr-defined]  # not in grpc-stubs

from edgeway.sdk.testing import PluginProcess, make_request
from edgeway.v1 import plugin_pb2, plugin_pb2_grpc
from tests.plugins.conftest import ECHO

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture(scope="module")
def plugin() -> Iterator[PluginProcess]:
    with PluginProcess(ECHO) as process:
        yield process


@pytest_asyncio.fixture(loop_scope="module")
async def stub(plugin: PluginProcess) -> AsyncIterator[Any]:
    async with grpc.aio.insecure_channel(plugin.address) as channel:
        yield plugin_pb2_grpc.PluginStub(channel)


def call(call_id: int, timeout_ms: int = 0, **request: Any) -> plugin_pb2.PluginCall:
    return plugin_pb2.PluginCall(
        request=plugin_pb2.RequestCall(call_id=call_id, request=make_request(**request)),
        timeout_ms=timeout_ms)


async def test_calls_on_one_stream_are_answered_as_they_finish(stub: Any) -> None:
    stream = stub.Exchange()
    await stream.write(plugin_pb2.PluginCalls(calls=[
        call(1, headers={"x-sleep-ms": "200", "x-id": "slow"}), call(2, headers={"x-id": "fast"})]))
    await stream.write(plugin_pb2.PluginCalls(calls=[
        call(3, timeout_ms=50, headers={"x-sleep-ms": "1000"}), call(4, headers={"x-raise": "1"}),
        plugin_pb2.PluginCall(response=plugin_pb2.ResponseCall(
            call_id=5, status=200, body=b"a secret"))]))  # fmt: skip
    await stream.done_writing()
    replies = []
    while (batch := await stream.read()) is not EOF:
        replies += batch.replies
    kinds = {getattr(r, r.WhichOneof("reply")).call_id: r for r in replies}
    assert set(kinds) == {1, 2, 3, 4, 5}
    order = [getattr(r, r.WhichOneof("reply")).call_id for r in replies]
    assert order.index(2) < order.index(1)  # the fast call did not wait for the slow one
    assert kinds[1].request.proceed.set_headers[0].value == "slow"
    assert "deadline exceeded (50 ms)" in kinds[3].error.message
    assert "RuntimeError: asked to fail" in kinds[4].error.message
    assert kinds[5].response.body == b"a ******"


async def test_unary_calls_honour_the_deadline_and_report_failures(stub: Any) -> None:
    slow = plugin_pb2.RequestCall(request=make_request(headers={"x-sleep-ms": "1000"}))
    with pytest.raises(grpc.aio.AioRpcError) as late:
        await stub.OnRequest(slow, timeout=0.1)
    assert late.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
    bad = plugin_pb2.RequestCall(request=make_request())
    bad.config.update({"limits": [{"max": 0}]})
    with pytest.raises(grpc.aio.AioRpcError) as rejected:
        await stub.OnRequest(bad, timeout=2)
    assert rejected.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "limits[0].max" in (rejected.value.details() or "")
    failing = plugin_pb2.RequestCall(request=make_request(headers={"x-raise": "1"}))
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.OnRequest(failing, timeout=2)
    assert raised.value.code() is grpc.StatusCode.INTERNAL


async def test_sigterm_lets_calls_in_flight_finish() -> None:
    process = PluginProcess(ECHO)
    process.start()
    try:
        async with grpc.aio.insecure_channel(process.address) as channel:
            stub: Any = plugin_pb2_grpc.PluginStub(channel)
            slow = plugin_pb2.RequestCall(request=make_request(headers={"x-sleep-ms": "300"}))
            pending = asyncio.ensure_future(stub.OnRequest(slow, timeout=5))
            await asyncio.sleep(0.1)
            process.signal(signal.SIGTERM)
            verdict = await pending
            assert verdict.WhichOneof("outcome") == "proceed"
        assert process.wait(10) == 0
    finally:
        process.stop()

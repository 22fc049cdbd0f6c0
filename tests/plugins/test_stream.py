"""The edge's own HTTP/2 client for the Exchange stream, against a real plugin process: calls
larger than the flow-control windows, replies split over frames, batching under concurrency,
and a peer that does not speak gRPC."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from edgeway.common.plugins.transport import CallFailed
from edgeway.edge.plugins import PluginClients, PluginInstance
from edgeway.edge.plugins.stream import StreamCalls
from edgeway.sdk.testing import PluginProcess, make_request
from edgeway.v1 import plugin_pb2
from tests.plugins.conftest import ECHO, endpoint

pytestmark = pytest.mark.asyncio(loop_scope="module")

INSTANCE = PluginInstance.build("echo", {"tag": "s1"})


@pytest_asyncio.fixture(loop_scope="module")
async def clients(echo: PluginProcess) -> AsyncIterator[PluginClients]:
    async with PluginClients({"echo": endpoint(echo.port, timeout_ms=5000)}) as opened:
        yield opened


async def test_calls_larger_than_the_flow_control_windows_arrive_whole(
        clients: PluginClients) -> None:
    big = "v" * 60_000  # 64 calls of 60 kB: one message far over HTTP/2's 64 kB windows

    async def one(index: int) -> str:
        request = make_request(headers={"x-id": str(index), "x-big": big})
        outcome = await clients.on_request(INSTANCE, request)
        assert outcome.mutations is not None, outcome.failure
        return {h.name: h.value for h in outcome.mutations.set_headers}["x-echo-id"]

    for _ in range(3):  # past the windows more than once
        assert await asyncio.gather(*(one(i) for i in range(64))) == [str(i) for i in range(64)]


async def test_replies_split_over_many_frames_are_put_back_together(
        clients: PluginClients) -> None:
    body = b"a secret " * 110  # close to the 1 kB the echo plugin reads of a response body

    async def one(index: int) -> bytes:
        outcome = await clients.on_response(
            INSTANCE, make_request(headers={"x-id": str(index)}), 200,
            [plugin_pb2.HeaderEntry(name="x-n", value=str(index))], body)
        assert outcome.verdict is not None, outcome.failure
        return outcome.verdict.body

    bodies = await asyncio.gather(*(one(i) for i in range(300)))
    assert set(bodies) == {body[:1024].replace(b"secret", b"******")}


async def test_an_empty_verdict_is_a_plain_proceed_and_others_are_read_whole(
        clients: PluginClients) -> None:
    outcome = await clients.on_request(INSTANCE, make_request(path="/rewrite/me"))
    assert outcome.mutations is not None
    assert outcome.mutations.path == "/rewritten"
    assert outcome.changes is not None
    assert outcome.changes.path == "/rewritten"


async def test_a_peer_that_does_not_speak_http2_is_a_failure_not_a_hang() -> None:
    async def http1(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(http1, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        plugin = endpoint(port, failure_mode="open", timeout_ms=2000)
        async with PluginClients({"echo": plugin}, exchange=True) as clients:
            started = asyncio.get_running_loop().time()
            outcome = await clients.on_request(INSTANCE, make_request())
            assert outcome.failure is not None
            assert "frame of" in outcome.failure or "connection" in outcome.failure, \
                outcome.failure
            assert asyncio.get_running_loop().time() - started < 1.0
    finally:
        server.close()
        await server.wait_closed()


async def test_a_plugin_stopping_gracefully_answers_the_calls_it_already_has() -> None:
    process = PluginProcess(ECHO)
    process.start()
    try:
        async with PluginClients({"echo": endpoint(process.port, timeout_ms=3000)}) as clients:
            assert (await clients.on_request(INSTANCE, make_request())).failure is None
            slow = asyncio.create_task(clients.on_request(
                INSTANCE, make_request(headers={"x-sleep-ms": "600", "x-id": "slow"})))
            await asyncio.sleep(0.2)  # the call is at the plugin
            process.signal(signal.SIGTERM)  # GOAWAY, then the grace period
            outcome = await slow
            assert outcome.failure is None
            assert outcome.mutations is not None
            assert {h.name: h.value for h in outcome.mutations.set_headers}["x-echo-id"] == "slow"
            assert process.wait() == 0
            after = await clients.on_request(INSTANCE, make_request())  # a new connection
            assert after.failure is not None
            assert "unavailable" in after.failure
    finally:
        process.stop()


async def test_a_call_with_a_shorter_budget_than_those_before_it_ends_at_its_own_deadline(
        echo: PluginProcess) -> None:
    # one replica, one stream: deadlines sent out of time order (a retry's shorter budget)
    calls = StreamCalls([("127.0.0.1", echo.port)], [f"127.0.0.1:{echo.port}"])
    slow = make_request(headers={"x-sleep-ms": "2000"}).SerializeToString()
    loop = asyncio.get_running_loop()
    ended: dict[str, float] = {}

    async def call(name: str, budget: float) -> None:
        started = loop.time()
        with pytest.raises(CallFailed, match="deadline exceeded"):
            await calls.request(slow, b"", budget, {})
        ended[name] = loop.time() - started

    try:
        first = asyncio.create_task(call("long", 0.9))
        await asyncio.sleep(0.05)
        await asyncio.gather(first, call("short", 0.2))
        assert 0.2 <= ended["short"] < 0.6 <= 0.9 <= ended["long"] < 1.5, ended
        answered = await calls.request(make_request(headers={"x-id": "after"}).SerializeToString(),
                                       b"", 2.0, {})
        assert answered is not None  # the stream still serves calls
        assert {h.name: h.value for h in answered.proceed.set_headers}["x-echo-id"] == "after"
    finally:
        await calls.close()

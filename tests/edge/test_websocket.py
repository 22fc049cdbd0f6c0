"""WebSocket through the edge: the handshake passes, frames go both ways, closes propagate."""

from __future__ import annotations

import asyncio
import os

import aiohttp
import pytest

from tests.edge.client import Client
from tests.edge.conftest import RunningEdge, gateway, upstream_of, upstream_stats

pytestmark = pytest.mark.asyncio(loop_scope="module")
WS_TIMEOUT = aiohttp.ClientWSTimeout(ws_receive=5, ws_close=5)


def proxied(port: int) -> dict[str, object]:
    return gateway([{"id": "ws", "paths": ["/"], "upstream": "u"}], [upstream_of("u", [port])])


async def test_text_and_binary_frames_echo_through_the_edge(
    edge: RunningEdge, healed: list[int]
) -> None:
    edge.swap(proxied(healed[0]))
    blob = os.urandom(1024 * 1024)  # large enough to need flow control on the way
    async with aiohttp.ClientSession() as session, \
            session.ws_connect(f"http://127.0.0.1:{edge.port}/__ws", timeout=WS_TIMEOUT) as ws:
        for text in ("hello", "wörld", "x" * 70_000):
            await ws.send_str(text)
            assert (await ws.receive(timeout=5)).data == text
        await ws.send_bytes(blob)
        assert (await ws.receive(timeout=5)).data == blob
    lines = await edge.log_lines()
    assert lines[-1]["status"] == 101
    assert lines[-1]["route"] == "ws"


async def test_a_client_close_reaches_the_upstream(edge: RunningEdge, healed: list[int]) -> None:
    port = healed[0]
    edge.swap(proxied(port))
    before = (await upstream_stats(port))["ws_closed"]
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(f"http://127.0.0.1:{edge.port}/__ws", timeout=WS_TIMEOUT)
        await ws.send_str("ping")
        await ws.receive(timeout=5)
        await ws.close(code=1000)
        assert ws.close_code == 1000  # the upstream's close answer came back through
    for _ in range(50):
        if (await upstream_stats(port))["ws_closed"] > before:
            break
        await asyncio.sleep(0.02)
    assert (await upstream_stats(port))["ws_closed"] == before + 1


async def test_an_upstream_close_reaches_the_client(edge: RunningEdge, healed: list[int]) -> None:
    edge.swap(proxied(healed[1]))
    async with aiohttp.ClientSession() as session, \
            session.ws_connect(f"http://127.0.0.1:{edge.port}/__ws", timeout=WS_TIMEOUT) as ws:
        await ws.send_str("close 4001")
        message = await ws.receive(timeout=5)
        assert message.type == aiohttp.WSMsgType.CLOSE
        assert ws.close_code == 4001


async def test_a_handshake_the_upstream_refuses_is_answered_and_the_connection_closed(
    edge: RunningEdge, healed: list[int]
) -> None:
    edge.swap(proxied(healed[0]))
    async with await Client.open(edge.port) as client:
        response = await client.request("GET", "/plain", headers=[
            ("Connection", "Upgrade"), ("Upgrade", "websocket"),
            ("Sec-WebSocket-Version", "13"), ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ])  # fmt: skip
        assert response.status == 200  # the echo endpoint does not speak WebSocket
        sent = {name.lower(): value for name, value in response.json()["headers"]}
        assert (sent["connection"], sent["upgrade"]) == ("upgrade", "websocket")
        assert response.header("connection") == "close"
        assert await client.closed_by_server()


async def test_an_upgrade_to_another_protocol_is_served_as_plain_http(
    edge: RunningEdge, healed: list[int]
) -> None:
    edge.swap(proxied(healed[0]))
    async with await Client.open(edge.port) as client:
        response = await client.request("GET", "/plain", headers=[
            ("Connection", "Upgrade"), ("Upgrade", "h2c")])  # fmt: skip
        assert response.status == 200
        sent = {name.lower() for name, _ in response.json()["headers"]}
        assert "upgrade" not in sent
        assert await client.closed_by_server()

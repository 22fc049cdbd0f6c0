"""Request limits, each with its status and a JSON error: body size 413 (global default,
per-route override, Content-Length and chunked), URL length 414, head size and header count
431; the upstream never sees a request over a limit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.edge.client import Client, fetch
from tests.edge.conftest import RunningEdge, gateway, upstream_of, upstream_stats
from tests.edge.test_errors import assert_error

pytestmark = pytest.mark.asyncio(loop_scope="module")


def limited(port: int, limits: dict[str, int] | None = None,
            route_limits: dict[str, int] | None = None) -> dict[str, Any]:
    routes: list[dict[str, Any]] = [
        {"id": "small", "paths": ["/small"], "upstream": "u", "limits": route_limits or {}},
        {"id": "default", "paths": ["/"], "upstream": "u"},
    ]
    config = gateway(routes, [upstream_of("u", [port])])
    if limits:
        config["limits"] = limits
    return config


async def test_the_default_body_limit_is_10_mib(edge: RunningEdge, healed: list[int]) -> None:
    edge.swap(limited(healed[0]))
    ok = await fetch(edge.port, "POST", "/__upload", body=b"x" * (10 * 1024 * 1024))
    assert ok.status == 200
    async with await Client.open(edge.port) as client:
        await client.send(b"POST /__upload HTTP/1.1\r\nHost: t\r\nContent-Length: 10485761\r\n\r\n")
        body = assert_error(await client.response(), 413, "payload_too_large")
        assert "10485760" in body["message"]
        assert await client.closed_by_server()


async def test_a_route_limit_overrides_the_global_one(edge: RunningEdge, healed: list[int]) -> None:
    port = healed[0]
    edge.swap(limited(port, limits={"max_body_bytes": 2000}, route_limits={"max_body_bytes": 100}))
    before = (await upstream_stats(port))["requests"]
    assert_error(await fetch(edge.port, "POST", "/small", body=b"x" * 101), 413,
                 "payload_too_large")
    assert (await fetch(edge.port, "POST", "/small", body=b"x" * 100)).status == 200
    assert (await fetch(edge.port, "POST", "/other", body=b"x" * 2000)).status == 200
    assert_error(await fetch(edge.port, "POST", "/other", body=b"x" * 2001), 413,
                 "payload_too_large")
    assert (await upstream_stats(port))["requests"] == before + 2


async def test_a_chunked_body_is_cut_off_at_the_limit(edge: RunningEdge, healed: list[int]) -> None:
    edge.swap(limited(healed[0], route_limits={"max_body_bytes": 1000}))

    async def pieces() -> AsyncIterator[bytes]:
        for _ in range(3):
            yield b"y" * 400

    async with await Client.open(edge.port) as client:
        response = await client.request("POST", "/small/__upload", body=pieces(), chunked=True)
        assert_error(response, 413, "payload_too_large")
        assert await client.closed_by_server()


async def test_a_long_url_is_414(edge: RunningEdge, healed: list[int]) -> None:
    edge.swap(limited(healed[0], limits={"max_url_bytes": 1000}))
    assert (await fetch(edge.port, "GET", "/" + "a" * 990)).status == 200
    async with await Client.open(edge.port) as client:
        await client.send(b"GET /" + b"a" * 1000 + b" HTTP/1.1\r\nHost: t\r\n\r\n")
        body = assert_error(await client.response(), 414, "uri_too_long")
        assert "1000 bytes" in body["message"]
        assert await client.closed_by_server()
    async with await Client.open(edge.port) as client:  # sent in pieces, never complete
        await client.send(b"GET /" + b"b" * 5000)
        assert_error(await client.response(), 414, "uri_too_long")


async def test_a_large_head_is_431(edge: RunningEdge, healed: list[int]) -> None:
    edge.swap(limited(healed[0], limits={"max_header_bytes": 4096}))
    assert (await fetch(edge.port, "GET", "/", headers=[("X-A", "a" * 3000)])).status == 200
    response = await fetch(edge.port, "GET", "/", headers=[("X-A", "a" * 5000)])
    body = assert_error(response, 431, "headers_too_large")
    assert "4096 bytes" in body["message"]


async def test_too_many_header_fields_is_431(edge: RunningEdge, healed: list[int]) -> None:
    edge.swap(limited(healed[0], limits={"max_headers": 20}))
    fields = [(f"X-H{n}", "v") for n in range(19)]  # plus Host: 20
    assert (await fetch(edge.port, "GET", "/", headers=fields)).status == 200
    response = await fetch(edge.port, "GET", "/", headers=[*fields, ("X-Last", "v")])
    body = assert_error(response, 431, "headers_too_large")
    assert "more than 20 header fields" in body["message"]


async def test_defaults_apply_before_any_config_and_a_mock_route_has_a_body_limit_too(
    edge: RunningEdge,
) -> None:
    response = await fetch(edge.port, "GET", "/" + "a" * 9000)
    assert_error(response, 414, "uri_too_long")
    edge.swap({"routes": [{"id": "m", "paths": ["/"], "mock": {"status": 204},
                           "limits": {"max_body_bytes": 10}}]})
    assert (await fetch(edge.port, "POST", "/", body=b"x" * 10)).status == 204
    assert_error(await fetch(edge.port, "POST", "/", body=b"x" * 11), 413, "payload_too_large")

"""Forwarding through the edge: methods, bodies both ways, keep-alive, HTTP/1.0, Expect, HEAD,
pipelining — against a real upstream process."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.edge.client import Client, fetch
from tests.edge.conftest import RunningEdge, gateway, upstream_of
from tests.support.upstream import pattern, pattern_sha256

pytestmark = pytest.mark.asyncio(loop_scope="module")


def proxied(upstream: int, **route: Any) -> dict[str, Any]:
    return gateway([{"id": "all", "paths": ["/"], "upstream": "echo", **route}],
                   [upstream_of("echo", [upstream])])


async def stats(port: int, reset: bool = False) -> dict[str, int]:
    answer = await fetch(port, "GET", "/__stats" + ("?reset=1" if reset else ""),
                         host=f"127.0.0.1:{port}")
    result: dict[str, int] = answer.json()
    return result


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
async def test_every_method_reaches_the_upstream_with_its_body(
    edge: RunningEdge, upstream: int, method: str
) -> None:
    edge.swap(proxied(upstream))
    body = f"payload of {method}".encode()
    response = await fetch(edge.port, method, "/things/1?a=b&c=d", body=body)
    assert response.status == 200
    echoed = response.json()
    assert (echoed["method"], echoed["path"], echoed["query"]) == (method, "/things/1", "a=b&c=d")
    assert echoed["body"] == body.decode()


async def test_a_chunked_upload_is_forwarded_chunked(edge: RunningEdge, upstream: int) -> None:
    edge.swap(proxied(upstream))

    async def pieces() -> AsyncIterator[bytes]:
        for index in range(20):
            yield b"piece-%02d;" % index

    response = await fetch(edge.port, "POST", "/upload", body=pieces(), chunked=True)
    echoed = response.json()
    expected = b"".join(b"piece-%02d;" % i for i in range(20))
    assert echoed["body_size"] == len(expected)
    assert echoed["body_sha256"] == hashlib.sha256(expected).hexdigest()
    headers = {name.lower(): value for name, value in echoed["headers"]}
    assert headers["transfer-encoding"] == "chunked"
    assert "content-length" not in headers


@pytest.mark.parametrize("length", [True, False], ids=["content-length", "chunked"])
async def test_download_bodies_arrive_intact(
    edge: RunningEdge, upstream: int, length: bool
) -> None:
    edge.swap(proxied(upstream))
    size = 3 * 1024 * 1024 + 17
    target = f"/__stream?bytes={size}&chunk=100000" + ("&length=1" if length else "")
    response = await fetch(edge.port, "GET", target)
    assert response.status == 200
    assert len(response.body) == size
    assert hashlib.sha256(response.body).hexdigest() == pattern_sha256(size)
    if length:
        assert response.header("content-length") == str(size)
    else:
        assert response.header("transfer-encoding") == "chunked"


async def test_upstream_connections_are_kept_alive_and_reused(
    edge: RunningEdge, upstreams: list[int]
) -> None:
    port = upstreams[1]
    edge.swap(proxied(port))
    await stats(port, reset=True)
    async with await Client.open(edge.port) as client:
        for index in range(30):
            response = await client.request("GET", f"/n/{index}")
            assert response.status == 200
    counted = await stats(port)
    assert counted["requests"] == 30
    assert counted["peers"] == 1  # one upstream connection served them all


async def test_concurrent_clients_share_a_bounded_set_of_upstream_connections(
    edge: RunningEdge, upstreams: list[int]
) -> None:
    port = upstreams[2]
    edge.swap(proxied(port))
    await stats(port, reset=True)

    async def one_client() -> None:
        async with await Client.open(edge.port) as client:
            for _ in range(10):
                assert (await client.request("GET", "/x")).status == 200

    await asyncio.gather(*(one_client() for _ in range(4)))
    counted = await stats(port)
    assert counted["requests"] == 40
    assert counted["peers"] <= 4


async def test_the_client_connection_is_kept_alive(edge: RunningEdge, upstream: int) -> None:
    edge.swap(proxied(upstream))
    async with await Client.open(edge.port) as client:
        first = await client.request("GET", "/1")
        second = await client.request("POST", "/2", body=b"x")
        assert (first.status, second.status) == (200, 200)
        assert first.header("connection") is None
        assert not await client.closed_by_server(within=0.2)


async def test_connection_close_from_the_client_closes_after_the_response(
    edge: RunningEdge, upstream: int
) -> None:
    edge.swap(proxied(upstream))
    async with await Client.open(edge.port) as client:
        response = await client.request("GET", "/", headers=[("Connection", "close")])
        assert response.status == 200
        assert response.header("connection") == "close"
        assert await client.closed_by_server()


async def test_http_1_0_gets_a_close_delimited_body_and_a_closed_connection(
    edge: RunningEdge, upstream: int
) -> None:
    edge.swap(proxied(upstream))
    async with await Client.open(edge.port) as client:
        response = await client.request("GET", "/__stream?bytes=5000", version="1.0", host=None)
        assert response.status == 200
        assert response.header("transfer-encoding") is None
        assert response.body == pattern(5000)
        assert await client.closed_by_server()


async def test_http_1_0_keep_alive_is_honoured_for_length_delimited_responses(
    edge: RunningEdge, upstream: int
) -> None:
    edge.swap(proxied(upstream))
    async with await Client.open(edge.port) as client:
        for _ in range(2):
            response = await client.request(
                "GET", "/", version="1.0", headers=[("Connection", "keep-alive")]
            )
            assert response.status == 200
            assert response.header("connection") == "keep-alive"


async def test_expect_100_continue_gets_a_continue_before_the_body(
    edge: RunningEdge, upstream: int
) -> None:
    edge.swap(proxied(upstream))
    async with await Client.open(edge.port) as client:
        await client.send(b"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n"
                          b"Expect: 100-continue\r\n\r\n")
        interim = await asyncio.wait_for(client.reader.readuntil(b"\r\n\r\n"), 5)
        assert interim.startswith(b"HTTP/1.1 100 Continue")
        await client.send(b"hello")
        response = await client.response()
        assert response.status == 200
        echoed = response.json()
        assert echoed["body"] == "hello"
        assert "expect" not in {name.lower() for name, _ in echoed["headers"]}


async def test_a_local_answer_to_an_expect_request_closes_without_reading_the_body(
    edge: RunningEdge, upstream: int
) -> None:
    edge.swap(proxied(upstream, paths=["/only"]))
    async with await Client.open(edge.port) as client:
        await client.send(b"POST /elsewhere HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n"
                          b"Expect: 100-continue\r\n\r\n")
        response = await client.response()
        assert response.status == 404
        assert response.interim == []
        assert response.header("connection") == "close"
        assert await client.closed_by_server()


async def test_head_responses_have_no_body_and_keep_the_connection(
    edge: RunningEdge, upstream: int
) -> None:
    edge.swap(proxied(upstream))
    async with await Client.open(edge.port) as client:
        for _ in range(5):
            # this upstream (aiohttp, raw stream) even sends the body to HEAD: the edge must
            # not let those bytes reach the next request on the same upstream connection
            head = await client.request("HEAD", "/__stream?bytes=1000&length=1")
            assert head.status == 200
            assert head.header("content-length") == "1000"
            assert head.body == b""
            after = await client.request("GET", "/after")  # both connections stay in sync
            assert after.status == 200, after.body
            assert after.json()["path"] == "/after"


async def test_pipelined_requests_are_answered_in_order(
    edge: RunningEdge, upstream: int
) -> None:
    edge.swap(proxied(upstream))
    async with await Client.open(edge.port) as client:
        await client.send(b"".join(
            b"GET /__delay?ms=%d&n=%d HTTP/1.1\r\nHost: t\r\n\r\n" % (30 - 10 * i, i)
            for i in range(3)
        ) + b"POST /last HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nbody")  # fmt: skip
        answers = [await client.response() for _ in range(4)]
    assert [a.json()["query"] for a in answers[:3]] == [f"ms={30 - 10 * i}&n={i}"
                                                        for i in range(3)]
    assert answers[3].json()["body"] == "body"


async def test_an_early_upstream_answer_ends_the_exchange_and_the_connection_survives(
    edge: RunningEdge, upstream: int
) -> None:
    edge.swap(proxied(upstream))
    async with await Client.open(edge.port) as client:
        response = await client.request("POST", "/__early", body=b"x" * 200_000)
        assert response.status == 413
        again = await client.request("GET", "/again")
        assert again.status == 200

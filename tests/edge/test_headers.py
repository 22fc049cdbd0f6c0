"""What crosses the edge: hop-by-hop headers, X-Forwarded-*, Forwarded, Host, request ids,
strip_path and rewrite_path."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.edge.client import Response, fetch
from tests.edge.conftest import RunningEdge, gateway, upstream_of

pytestmark = pytest.mark.asyncio(loop_scope="module")


def echoed_headers(response: Response) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for name, value in response.json()["headers"]:
        found.setdefault(name.lower(), []).append(value)
    return found


def one_route(upstream: int, **route: Any) -> dict[str, Any]:
    route = {"id": "r", "paths": ["/"], "upstream": "echo", **route}
    return gateway([route], [upstream_of("echo", [upstream])])


async def test_hop_by_hop_headers_and_those_named_in_connection_are_removed(
    edge: RunningEdge, upstream: int
) -> None:
    edge.swap(one_route(upstream))
    response = await fetch(edge.port, "GET", "/", headers=[
        ("Connection", "keep-alive, X-Secret-Hop"), ("X-Secret-Hop", "1"),
        ("Keep-Alive", "timeout=5"), ("Proxy-Authorization", "Basic eA=="),
        ("Proxy-Connection", "keep-alive"), ("TE", "trailers"), ("Upgrade", "h2c"),
        ("Trailer", "X-T"), ("X-End-To-End", "kept"),
    ])  # fmt: skip
    headers = echoed_headers(response)
    for name in ["connection", "x-secret-hop", "keep-alive", "proxy-authorization",
                 "proxy-connection", "te", "upgrade", "trailer"]:
        assert name not in headers, name
    assert headers["x-end-to-end"] == ["kept"]


async def test_hop_by_hop_headers_of_the_response_are_removed(
    edge: RunningEdge, upstream: int
) -> None:
    edge.swap(one_route(upstream))
    response = await fetch(edge.port, "GET", "/__stream?bytes=10&length=1")
    assert response.header("keep-alive") is None
    assert response.header("connection") is None
    assert response.header("content-length") == "10"


async def test_forwarding_headers_are_set_and_appended(edge: RunningEdge, upstream: int) -> None:
    edge.swap(one_route(upstream))
    response = await fetch(edge.port, "GET", "/", host="api.example.com:8443", headers=[
        ("X-Forwarded-For", "203.0.113.7"), ("Forwarded", "for=203.0.113.7;proto=https"),
        ("X-Forwarded-Proto", "https"), ("X-Forwarded-Host", "spoofed.example"),
    ])  # fmt: skip
    headers = echoed_headers(response)
    assert headers["x-forwarded-for"] == ["203.0.113.7, 127.0.0.1"]
    assert headers["x-forwarded-proto"] == ["http"]
    assert headers["x-forwarded-host"] == ["api.example.com:8443"]
    assert headers["forwarded"] == [
        'for=203.0.113.7;proto=https, for=127.0.0.1;host="api.example.com:8443";proto=http'
    ]


async def test_host_is_the_target_address_unless_the_route_preserves_it(
    edge: RunningEdge, upstream: int
) -> None:
    edge.swap(one_route(upstream))
    response = await fetch(edge.port, "GET", "/", host="api.example.com")
    assert echoed_headers(response)["host"] == [f"127.0.0.1:{upstream}"]
    edge.swap(one_route(upstream, preserve_host=True))
    response = await fetch(edge.port, "GET", "/", host="api.example.com")
    assert echoed_headers(response)["host"] == ["api.example.com"]


async def test_a_request_id_is_generated_and_sent_both_ways(
    edge: RunningEdge, upstream: int
) -> None:
    edge.swap(one_route(upstream))
    response = await fetch(edge.port, "GET", "/")
    request_id = response.header("x-request-id")
    assert request_id is not None
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)
    assert echoed_headers(response)["x-request-id"] == [request_id]
    other = await fetch(edge.port, "GET", "/")
    assert other.header("x-request-id") != request_id


async def test_a_sane_incoming_request_id_is_kept_and_an_insane_one_replaced(
    edge: RunningEdge, upstream: int
) -> None:
    edge.swap(one_route(upstream))
    kept = await fetch(edge.port, "GET", "/", headers=[("X-Request-Id", "abc-123.XYZ")])
    assert kept.header("x-request-id") == "abc-123.XYZ"
    assert echoed_headers(kept)["x-request-id"] == ["abc-123.XYZ"]
    for insane in ['has "quotes"', "x" * 200]:
        replaced = await fetch(edge.port, "GET", "/", headers=[("X-Request-Id", insane)])
        assert replaced.header("x-request-id") != insane
        assert re.fullmatch(r"[0-9a-f]{32}", replaced.header("x-request-id") or "")


async def test_the_upstreams_own_request_id_is_replaced(edge: RunningEdge, upstream: int) -> None:
    edge.swap(gateway(
        [{"id": "r", "paths": ["/"], "upstream": "echo"}], [upstream_of("echo", [upstream])]
    ))  # fmt: skip
    response = await fetch(edge.port, "GET", "/", headers=[("X-Request-Id", "mine")])
    assert response.all("x-request-id") == ["mine"]


@pytest.mark.parametrize(
    ("route", "request_path", "upstream_path"),
    [
        ({"paths": ["/api"], "strip_path": True}, "/api/users/7?x=1", "/users/7"),
        ({"paths": ["/api"], "strip_path": True}, "/api", "/"),
        ({"paths": ["/api/"], "strip_path": True}, "/api/", "/"),
        ({"paths": ["/v1/users/{id}"], "strip_path": True}, "/v1/users/7/orders", "/orders"),
        ({"paths": ["/v1/users/{id}"], "rewrite_path": "/users/{id}"},
         "/v1/users/7/orders", "/users/7/orders"),
        ({"paths": ["/old"], "rewrite_path": "/new/"}, "/old/a/b", "/new/a/b"),
        ({"paths": ["/static/{file:path}"], "rewrite_path": "/assets/{file}"},
         "/static/css/site.css", "/assets/css/site.css"),
        ({"paths": ["/"]}, "/a/../b//c/./d", "/b/c/d"),
    ],
)
async def test_paths_are_stripped_rewritten_and_normalized(
    edge: RunningEdge, upstream: int, route: dict[str, Any], request_path: str,
    upstream_path: str,
) -> None:
    edge.swap(one_route(upstream, **route))
    response = await fetch(edge.port, "GET", request_path)
    assert response.status == 200, response.body
    echoed = response.json()
    assert echoed["path"] == upstream_path
    assert echoed["query"] == request_path.partition("?")[2]


async def test_a_raw_target_is_forwarded_unchanged_when_already_normal(
    edge: RunningEdge, upstream: int
) -> None:
    edge.swap(one_route(upstream))
    response = await fetch(edge.port, "GET", "/a%20b/c?q=%2F&x")
    echoed = response.json()
    assert (echoed["path"], echoed["query"]) == ("/a%20b/c", "q=%2F&x")

"""correlation-id, request-size-limit and redirect."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.exchange import TestExchange, serve
from tests.unit.edge.policies.helpers import build, chain_of, config_problems


async def test_correlation_id_keeps_a_clients_id_and_echoes_it() -> None:
    exchange = TestExchange.of({"x-correlation-id": "abc"})
    response = await serve(chain_of(build("correlation-id")), exchange)
    assert exchange.headers["x-correlation-id"] == "abc"
    assert response.headers["x-correlation-id"] == "abc"


async def test_correlation_id_uses_the_request_id_or_a_uuid() -> None:
    exchange = TestExchange.of(request_id="r-77")
    await serve(chain_of(build("correlation-id")), exchange)
    assert exchange.headers["x-correlation-id"] == "r-77"
    other = TestExchange.of()
    config = {"header": "X-Trace", "generator": "uuid", "echo_downstream": False}
    response = await serve(chain_of(build("correlation-id", config)), other)
    assert len(other.headers["x-trace"]) == 36
    assert "x-trace" not in response.headers


async def test_correlation_id_is_on_a_refusal_too() -> None:
    chain = chain_of(build("correlation-id"), build("request-termination"))
    response = await serve(chain, TestExchange.of(request_id="r-1"))
    assert response.status == 503
    assert response.headers["x-correlation-id"] == "r-1"


async def test_request_size_limit_refuses_a_declared_length_over_the_limit() -> None:
    handler = build("request-size-limit", {"max_bytes": 10})
    assert handler.body_limit == 10
    chain = chain_of(handler)
    big = await serve(chain, TestExchange.of({"content-length": "11"}, method="POST"))
    assert big.status == 413
    assert json.loads(big.body or b"")["code"] == "payload_too_large"
    assert (await serve(chain, TestExchange.of({"content-length": "10"}))).status == 200
    assert chain.body_limit == 10  # chunked bodies: the proxy enforces it while streaming


async def test_request_size_limit_can_require_a_length() -> None:
    chain = chain_of(build("request-size-limit", {"require_content_length": True}))
    chunked = TestExchange.of({"transfer-encoding": "chunked"}, method="POST")
    assert (await serve(chain, chunked)).status == 411


async def test_redirect_with_templates_and_the_query_kept() -> None:
    config = {"location": "https://new.example.com/users/$(param.id)", "status": 308}
    exchange = TestExchange.of(params={"id": "7"}, query="a=1")
    response = await serve(chain_of(build("redirect", config)), exchange)
    assert response.status == 308
    assert response.headers["location"] == "https://new.example.com/users/7?a=1"


async def test_a_constant_redirect_is_prebuilt() -> None:
    handler = build("redirect", {"location": "/v2", "keep_query": False})
    first = handler.on_request(TestExchange.of(query="x=1"))
    assert first is handler.on_request(TestExchange.of())
    assert first.headers == (("location", "/v2"),)


@pytest.mark.parametrize(
    ("name", "config", "expected"),
    [
        ("redirect", {}, "routes[0].policies[0].config.location: is required"),
        ("redirect", {"location": "/x", "status": 300},
         "routes[0].policies[0].config.status: must be one of 301, 302, 303, 307, 308"),
        ("redirect", {"location": "/$(nope)"}, "routes[0].policies[0].config.location: unknown"
         " reference $(nope) (known: param.NAME, header.NAME, query.NAME, claim.NAME,"
         " request_id, route_id, client_ip, method, path, host, consumer.name)"),
        ("redirect", {"location": "/a b"}, "routes[0].policies[0].config.location: must be a"
         " URL or path without spaces or control characters"),
        ("request-size-limit", {"max_bytes": -1},
         "routes[0].policies[0].config.max_bytes: must be at least 0"),
        ("correlation-id", {"generator": "random"},
         "routes[0].policies[0].config.generator: must be one of request-id, uuid"),
    ],
)  # fmt: skip
def test_configs_are_checked(name: str, config: dict[str, Any], expected: str) -> None:
    assert config_problems(name, config) == [expected]

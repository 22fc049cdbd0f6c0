"""cors: preflights answered at the edge, headers on every response of an allowed origin."""

from __future__ import annotations

from typing import Any

import pytest

from edgeway.edge.policies.cors.schema import CREDENTIALS_WITH_ANY_ORIGIN
from tests.support.exchange import TestExchange, TestResponse, serve
from tests.unit.edge.policies.helpers import build, chain_of, config_problems, gateway

ORIGINS = {"origins": ["https://app.example.com", "https://*.example.org"],
           "origin_patterns": [r"https://pr-\d+\.preview\.dev"],
           "methods": ["GET", "POST"]}  # fmt: skip


def preflight(origin: str, **headers: str) -> TestExchange:
    pairs = {"origin": origin, "access-control-request-method": "POST", **headers}
    return TestExchange.of(pairs, method="OPTIONS")


async def run(config: dict[str, Any], exchange: TestExchange) -> TestResponse:
    return await serve(chain_of(build("cors", config)), exchange)


async def test_a_preflight_from_an_allowed_origin_is_answered_at_the_edge() -> None:
    response = await run(ORIGINS, preflight("https://app.example.com",
                                            **{"access-control-request-headers": "x-trace"}))
    assert response.status == 204
    headers = response.headers
    assert headers["access-control-allow-origin"] == "https://app.example.com"
    assert headers["access-control-allow-methods"] == "GET,POST"
    assert headers["access-control-allow-headers"] == "x-trace"
    assert headers["access-control-max-age"] == "600"
    assert headers["vary"] == "Origin"


@pytest.mark.parametrize("origin", ["https://a.example.org", "https://a.b.example.org",
                                    "https://pr-42.preview.dev", "HTTPS://APP.EXAMPLE.COM"])
async def test_wildcards_patterns_and_case_insensitive_exact_origins_match(origin: str) -> None:
    assert (await run(ORIGINS, preflight(origin))).headers.get("access-control-allow-origin")


@pytest.mark.parametrize("origin", ["https://example.org", "https://evil.com",
                                    "https://app.example.com.evil.com", "http://app.example.com",
                                    "https://pr-x.preview.dev"])
async def test_other_origins_get_no_cors_headers(origin: str) -> None:
    response = await run(ORIGINS, preflight(origin))
    assert response.status == 204
    assert "access-control-allow-origin" not in response.headers


async def test_an_actual_request_gets_the_headers_on_the_upstream_response() -> None:
    config = {**ORIGINS, "credentials": True, "expose_headers": ["X-Total"]}
    exchange = TestExchange.of({"origin": "https://app.example.com"}, method="POST")
    response = await run(config, exchange)
    assert response.status == 200
    assert response.headers["access-control-allow-origin"] == "https://app.example.com"
    assert response.headers["access-control-allow-credentials"] == "true"
    assert response.headers["access-control-expose-headers"] == "x-total"


async def test_cors_headers_reach_a_later_policys_refusal() -> None:
    chain = chain_of(build("cors", ORIGINS), build("key-auth", compiled_config=gateway()))
    response = await serve(chain, TestExchange.of({"origin": "https://app.example.com"}))
    assert response.status == 401
    assert response.headers["access-control-allow-origin"] == "https://app.example.com"


async def test_any_origin_answers_star_and_requests_without_origin_are_untouched() -> None:
    response = await run({}, TestExchange.of({"origin": "https://x.io"}))
    assert response.headers["access-control-allow-origin"] == "*"
    plain = await run({}, TestExchange.of())
    assert "access-control-allow-origin" not in plain.headers


async def test_preflight_continue_passes_the_preflight_upstream() -> None:
    response = await run({"preflight_continue": True}, preflight("https://x.io"))
    assert response.status == 200


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"credentials": True},
         f"routes[0].policies[0].config.credentials: {CREDENTIALS_WITH_ANY_ORIGIN}"),
        ({"origins": ["app.example.com"]},
         "routes[0].policies[0].config.origins[0]: must be *, or scheme://host[:port] with an"
         " optional *. subdomain wildcard"),
        ({"origin_patterns": ["("]},
         "routes[0].policies[0].config.origin_patterns[0]: is not a valid regular expression:"
         " missing ), unterminated subpattern at position 0"),
        ({"methods": ["FETCH"]}, "routes[0].policies[0].config.methods[0]: must be one of GET,"
         " HEAD, POST, PUT, PATCH, DELETE, OPTIONS"),
        ({"max_age": -1}, "routes[0].policies[0].config.max_age: must be at least 0"),
    ],
)  # fmt: skip
def test_cors_configs_are_checked(config: dict[str, Any], expected: str) -> None:
    assert config_problems("cors", config) == [expected]


def test_the_issue_shape_is_valid() -> None:
    config = {"origins": ["https://app.example.com"], "methods": ["GET", "POST"]}
    assert config_problems("cors", config) == []

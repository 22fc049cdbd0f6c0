"""Policies that shape traffic, through a real edge process: ip-restriction, cors (preflights on a
route listing methods, simple requests, headers on refusals), rate-limit in local mode,
request-size-limit, redirect and correlation-id."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.policies.edge_helpers import call, echoed, error_code, sent_header
from tests.support.edge_process import StandaloneEdge

ORIGIN = "https://app.example.com"


def config(upstream: int) -> str:
    return f"""\
consumers:
  - name: acme
    credentials:
      - {{type: key-auth, key: "acme-key"}}
upstreams:
  - name: echo
    targets: [{{address: "127.0.0.1:{upstream}"}}]
routes:
  - id: denied
    paths: ["/denied"]
    upstream: echo
    policies:
      - name: ip-restriction
        config: {{deny: ["127.0.0.0/8"]}}
  - id: behind-proxy
    paths: ["/behind-proxy"]
    upstream: echo
    policies:
      - name: ip-restriction
        config: {{allow: ["203.0.113.0/24"], trusted_proxies: ["127.0.0.1/32"]}}
  - id: orders
    paths: ["/orders"]
    methods: [GET, POST]
    upstream: echo
    policies:
      - name: key-auth
      - name: cors
        config: {{origins: ["{ORIGIN}"], methods: [GET, POST], expose_headers: [X-Total]}}
  - id: limited
    paths: ["/limited"]
    upstream: echo
    policies:
      - name: rate-limit
        config: {{rate: 3, period: minute, burst: 3, key: ip}}
  - id: small
    paths: ["/small"]
    upstream: echo
    policies:
      - name: request-size-limit
        config: {{max_bytes: 100}}
  - id: moved
    paths: ["/items/{{id}}"]
    upstream: echo
    policies:
      - name: redirect
        config: {{location: "https://new.example.com/v2/items/$(param.id)", status: 308}}
  - id: correlated
    paths: ["/correlated"]
    mock: {{status: 200, body: "mocked"}}
    policies:
      - name: correlation-id
  - id: correlated-upstream
    paths: ["/correlated-upstream"]
    upstream: echo
    policies:
      - name: correlation-id
"""


@pytest.fixture(scope="module")
def edge(echo_port: int, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StandaloneEdge]:
    running = StandaloneEdge(config(echo_port), tmp_path_factory.mktemp("traffic"))
    running.start()
    yield running
    running.stop()


# -- ip-restriction -----------------------------------------------------------------------------


async def test_ip_restriction_refuses_a_denied_client(edge: StandaloneEdge) -> None:
    response = await call(edge.port, "/denied")
    assert (response.status, error_code(response)) == (403, "ip_forbidden")


async def test_ip_restriction_believes_x_forwarded_for_only_from_trusted_proxies(
    edge: StandaloneEdge,
) -> None:
    through = await call(edge.port, "/behind-proxy", headers=[
        ("x-forwarded-for", "198.51.100.1, 203.0.113.9")])  # fmt: skip
    assert echoed(through)["path"] == "/behind-proxy"
    spoofed = await call(edge.port, "/behind-proxy", headers=[
        ("x-forwarded-for", "203.0.113.9, 198.51.100.1")])  # fmt: skip
    assert spoofed.status == 403
    direct = await call(edge.port, "/behind-proxy")
    assert direct.status == 403


# -- cors ---------------------------------------------------------------------------------------


async def test_a_preflight_to_a_route_listing_methods_is_answered_by_cors(
    edge: StandaloneEdge,
) -> None:
    response = await call(edge.port, "/orders", method="OPTIONS", headers=[
        ("origin", ORIGIN), ("access-control-request-method", "POST"),
        ("access-control-request-headers", "content-type, apikey")])  # fmt: skip
    assert response.status == 204
    assert response.header("access-control-allow-origin") == ORIGIN
    assert response.header("access-control-allow-methods") == "GET,POST"
    assert response.header("access-control-allow-headers") == "content-type, apikey"
    assert response.header("vary") == "Origin"
    other = await call(edge.port, "/orders", method="OPTIONS", headers=[
        ("origin", "https://evil.example"), ("access-control-request-method", "POST")])
    assert other.status == 204
    assert other.header("access-control-allow-origin") is None


async def test_other_options_requests_to_that_route_are_not_routed(edge: StandaloneEdge) -> None:
    response = await call(edge.port, "/orders", method="OPTIONS", headers=[("apikey", "acme-key")])
    assert (response.status, error_code(response)) == (404, "route_not_found")
    put = await call(edge.port, "/orders", method="PUT", headers=[("origin", ORIGIN)])
    assert put.status == 404


async def test_cors_headers_are_merged_into_the_upstream_response_and_into_refusals(
    edge: StandaloneEdge,
) -> None:
    ok = await call(edge.port, "/orders", headers=[("origin", ORIGIN), ("apikey", "acme-key")])
    assert ok.status == 200
    assert ok.header("access-control-allow-origin") == ORIGIN
    assert ok.header("access-control-expose-headers") == "x-total"
    assert "Origin" in ok.all("vary")
    assert ok.header("content-type") == "application/json; charset=utf-8"  # upstream's kept
    refused = await call(edge.port, "/orders", headers=[("origin", ORIGIN)])
    assert (refused.status, error_code(refused)) == (401, "missing_credentials")
    assert refused.header("access-control-allow-origin") == ORIGIN
    assert refused.header("content-type") == "application/json"


# -- rate-limit (local) -------------------------------------------------------------------------


async def test_rate_limit_local_admits_the_burst_then_answers_429(edge: StandaloneEdge) -> None:
    remaining = []
    for _ in range(3):
        response = await call(edge.port, "/limited")
        assert response.status == 200
        assert response.header("ratelimit-limit") == "3"
        remaining.append(response.header("ratelimit-remaining"))
    assert remaining == ["2", "1", "0"]
    refused = await call(edge.port, "/limited")
    assert (refused.status, error_code(refused)) == (429, "rate_limited")
    assert refused.header("content-type") == "application/json"
    assert int(refused.header("retry-after") or 0) >= 1
    assert refused.header("ratelimit-remaining") == "0"
    assert int(refused.header("ratelimit-reset") or 0) > 0


# -- request-size-limit ------------------------------------------------------------------------


async def test_request_size_limit_refuses_declared_and_streamed_bodies_over_it(
    edge: StandaloneEdge,
) -> None:
    fits = await call(edge.port, "/small", method="POST", body=b"x" * 100)
    assert echoed(fits)["body_size"] == 100
    declared = await call(edge.port, "/small", method="POST", body=b"x" * 101)
    assert (declared.status, error_code(declared)) == (413, "payload_too_large")
    streamed = await call(edge.port, "/small", method="POST", body=b"x" * 5000, chunked=True)
    assert (streamed.status, error_code(streamed)) == (413, "payload_too_large")
    small_chunked = await call(edge.port, "/small", method="POST", body=b"y" * 60, chunked=True)
    assert echoed(small_chunked)["body_size"] == 60


# -- redirect and correlation-id ----------------------------------------------------------------


async def test_redirect_renders_the_location_and_keeps_the_query(edge: StandaloneEdge) -> None:
    response = await call(edge.port, "/items/42?view=full")
    assert response.status == 308
    assert response.header("location") == "https://new.example.com/v2/items/42?view=full"
    assert response.header("x-request-id")


async def test_correlation_id_is_made_sent_upstream_and_echoed(edge: StandaloneEdge) -> None:
    response = await call(edge.port, "/correlated-upstream")
    made = response.header("x-correlation-id")
    assert made == response.header("x-request-id")
    assert sent_header(response, "x-correlation-id") == made
    kept = await call(edge.port, "/correlated-upstream", headers=[("x-correlation-id", "c-1")])
    assert kept.header("x-correlation-id") == "c-1"
    assert sent_header(kept, "x-correlation-id") == "c-1"
    mocked = await call(edge.port, "/correlated", headers=[("x-correlation-id", "c-2")])
    assert (mocked.status, mocked.body) == (200, b"mocked")
    assert mocked.header("x-correlation-id") == "c-2"  # merged into a mock's answer too

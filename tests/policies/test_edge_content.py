"""Policies that read or change content, through a real edge process with a real Redis:
request-validation, request-transform and response-transform (bodies buffered), the response
cache (X-Cache, one upstream fetch per key), and a usage plan's quota counted in Redis."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator

import pytest
from redis.asyncio import Redis

from edgeway.edge.policies.usage_plan.store import subject_for_key, usage
from tests.edge.client import Client, fetch
from tests.policies.edge_helpers import call, echoed, error_code, sent_header
from tests.support.edge_process import StandaloneEdge
from tests.support.redis import EmbeddedRedis


def config(upstream: int) -> str:
    return f"""\
usage_plans:
  - name: tiny
    quota: {{limit: 3, period: day}}
consumers:
  - name: metered
    usage_plan: tiny
    credentials:
      - {{type: key-auth, key: "metered-key"}}
upstreams:
  - name: echo
    targets: [{{address: "127.0.0.1:{upstream}"}}]
routes:
  - id: create-order
    paths: ["/orders"]
    methods: [POST]
    upstream: echo
    policies:
      - name: request-validation
        config:
          body_schema:
            type: object
            required: [item, quantity]
            properties:
              item: {{type: string, maxLength: 8}}
              quantity: {{type: integer, minimum: 1}}
          query:
            dry_run: {{type: boolean}}
          headers:
            X-Client-Version: {{pattern: "[0-9]+\\\\.[0-9]+", required: true}}
  - id: transformed
    paths: ["/users/{{id}}"]
    upstream: echo
    policies:
      - name: request-transform
        config:
          headers:
            {{remove: [x-debug], rename: {{x-old: x-new}}, add: {{x-user-id: "$(param.id)"}}}}
          query: {{rename: {{q: search}}, add: {{source: edge}}}}
          body: {{add: {{meta.route: "$(route_id)"}}, remove: [secret]}}
      - name: response-transform
        config:
          headers: {{remove: [server], add: {{x-served-for: "$(param.id)"}}}}
          body: {{remove: [peer, port]}}
  - id: delayed
    paths: ["/__delay"]
    upstream: echo
    policies:
      - name: cache
        config: {{ttl: 30}}
  - id: cached
    paths: ["/cached"]
    upstream: echo
    policies:
      - name: cache
        config: {{ttl: 30, vary_query: [page]}}
  - id: metered
    paths: ["/metered"]
    upstream: echo
    policies:
      - name: key-auth
"""


@pytest.fixture(scope="module")
def edge(echo_port: int, redis_server: EmbeddedRedis, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[StandaloneEdge]:  # fmt: skip
    running = StandaloneEdge(config(echo_port), tmp_path_factory.mktemp("content"),
                             redis_url=redis_server.url)  # fmt: skip
    running.start()
    yield running
    running.stop()


# -- request-validation -------------------------------------------------------------------------


async def test_request_validation_lists_every_violation(edge: StandaloneEdge) -> None:
    body = json.dumps({"item": "much-too-long", "quantity": 0}).encode()
    response = await call(edge.port, "/orders?dry_run=perhaps", method="POST", body=body,
                          headers=[("content-type", "application/json")])  # fmt: skip
    assert (response.status, error_code(response)) == (400, "invalid_request")
    errors = response.json()["errors"]
    assert {(e["in"], e["name"]) for e in errors} == {
        ("query", "dry_run"), ("header", "x-client-version"), ("body", "item"),
        ("body", "quantity"),
    }  # fmt: skip
    assert response.json()["message"] == "the request is not valid (4 problems)"


async def test_a_valid_request_reaches_the_upstream_with_its_body(edge: StandaloneEdge) -> None:
    body = json.dumps({"item": "pen", "quantity": 2}).encode()
    chunked = await call(edge.port, "/orders?dry_run=true", method="POST", body=body,
                         chunked=True, headers=[("content-type", "application/json"),
                                                ("x-client-version", "1.2")])  # fmt: skip
    received = echoed(chunked)
    assert (received["body"], received["body_size"]) == (body.decode(), len(body))
    assert sent_header(chunked, "content-length") == str(len(body))  # buffered, so sized


HEAD = (b"POST /orders HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\n"
        b"x-client-version: 1.2\r\n")


async def test_a_body_larger_than_the_validator_reads_is_413(edge: StandaloneEdge) -> None:
    async with await Client.open(edge.port) as client:  # declared: refused at once
        await client.send(HEAD + b"content-length: 2000000\r\n\r\n")
        declared = await client.response()
    assert (declared.status, error_code(declared)) == (413, "payload_too_large")
    async with await Client.open(edge.port) as client:  # streamed: refused past the limit
        await client.send(HEAD + b"transfer-encoding: chunked\r\n\r\n")
        chunk = b"%x\r\n%s\r\n" % (65536, b" " * 65536)
        with contextlib.suppress(ConnectionError):
            for _ in range(17):
                await client.send(chunk)
        streamed = await client.response()
    assert (streamed.status, error_code(streamed)) == (413, "payload_too_large")


# -- request-transform and response-transform --------------------------------------------------


async def test_transforms_change_the_request_and_the_response(edge: StandaloneEdge) -> None:
    body = json.dumps({"name": "a", "secret": "s"}).encode()
    response = await call(edge.port, "/users/7?q=shoes&page=2", method="POST", body=body,
                          headers=[("content-type", "application/json"), ("x-debug", "1"),
                                   ("x-old", "v")])  # fmt: skip
    received = echoed(response)
    assert received["query"] == "page=2&search=shoes&source=edge"
    assert json.loads(received["body"]) == {"name": "a", "meta": {"route": "transformed"}}
    assert received["body_size"] == len(received["body"])
    assert sent_header(response, "x-debug") is None
    assert sent_header(response, "x-old") is None
    assert sent_header(response, "x-new") == "v"
    assert sent_header(response, "x-user-id") == "7"
    assert not {"peer", "port"} & set(received)  # the response body was changed
    assert response.header("content-length") == str(len(response.body))
    assert response.header("server") is None
    assert response.header("x-served-for") == "7"


# -- cache --------------------------------------------------------------------------------------


async def test_the_cache_answers_a_second_request_with_x_cache_hit(edge: StandaloneEdge) -> None:
    first = await call(edge.port, "/cached?page=1")
    assert first.header("x-cache") == "MISS"
    second = await call(edge.port, "/cached?page=1")
    assert second.status == 200
    assert second.header("x-cache") == "HIT"
    assert second.body == first.body  # the stored response, not a second upstream call
    assert second.header("age") is not None
    assert second.header("x-request-id") != first.header("x-request-id")
    other = await call(edge.port, "/cached?page=2")
    assert other.header("x-cache") == "MISS"


async def test_concurrent_misses_of_one_key_make_one_upstream_fetch(
    edge: StandaloneEdge, echo_port: int
) -> None:
    async def stats() -> int:
        answer = await fetch(echo_port, "GET", "/__stats", host=f"127.0.0.1:{echo_port}")
        requests: int = answer.json()["requests"]
        return requests

    before = await stats()
    responses = await asyncio.gather(*(call(edge.port, "/__delay?ms=300") for _ in range(8)))
    assert [r.status for r in responses] == [200] * 8
    assert sorted(r.header("x-cache") or "" for r in responses) == ["HIT"] * 7 + ["MISS"]
    assert await stats() - before == 1  # one fetch for the eight


# -- usage plan (quota in Redis) ----------------------------------------------------------------


async def test_a_usage_plan_quota_is_counted_in_redis_and_enforced(
    edge: StandaloneEdge, redis_server: EmbeddedRedis
) -> None:
    remaining = []
    for _ in range(3):
        response = await call(edge.port, "/metered", headers=[("apikey", "metered-key")])
        assert response.status == 200
        remaining.append(response.header("x-quota-remaining"))
    assert remaining == ["2", "1", "0"]
    refused = await call(edge.port, "/metered", headers=[("apikey", "metered-key")])
    assert (refused.status, error_code(refused)) == (429, "quota_exceeded")
    assert int(refused.header("retry-after") or 0) >= 1
    client = Redis.from_url(redis_server.url)
    try:
        seen = await usage(client, subject_for_key("metered-key"))
    finally:
        await client.aclose()
    assert [(q["period"], q["used"], q["limit"]) for q in seen["quotas"]] == [("day", 3, 3)]

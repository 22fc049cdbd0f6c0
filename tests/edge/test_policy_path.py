"""The proxy's side of the policy contract, where the built-in policies do not reach on their own:
async request and response hooks, held and buffered responses, ``at_end`` when the client
leaves, per-request answers not piling up, and consistent hashing on the authenticated consumer."""

from __future__ import annotations

import asyncio
import gc
import hashlib
from collections.abc import Awaitable
from typing import Any

import pytest

from edgeway.edge.policies.base import Exchange, Outcome, Response
from edgeway.edge.policies.correlation_id import CorrelationIdHandler
from edgeway.edge.policies.response_transform import ResponseTransformHandler
from tests.edge.client import Client, fetch
from tests.edge.conftest import RunningEdge, gateway, upstream_of
from tests.support.upstream import pattern_sha256

pytestmark = pytest.mark.asyncio(loop_scope="module")

ADD_HEADER = {"headers": {"add": {"x-transformed": "yes"}}}
TRANSFORM_BODY = {"body": {"add": {"edge": "$(route_id)"}}, "max_body_bytes": 4096}


def route_to(port: int, *policies: dict[str, Any], path: str = "/") -> dict[str, Any]:
    route = {"id": "r", "paths": [path], "upstream": "u", "policies": list(policies)}
    return gateway([route], [upstream_of("u", [port])])


@pytest.fixture
def ended(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """correlation-id made async (it sleeps 0.2 s) and recording its ``at_end`` calls."""
    calls: list[str] = []

    def slow(self: CorrelationIdHandler, exchange: Exchange) -> Awaitable[Outcome]:
        exchange.at_end(lambda: calls.append(exchange.request_id))

        async def later() -> Outcome:
            await asyncio.sleep(0.2)
            exchange.set_header("x-was-async", "1")
            return None

        return later()

    monkeypatch.setattr(CorrelationIdHandler, "on_request", slow)
    return calls


def slow_response(monkeypatch: pytest.MonkeyPatch) -> None:
    original = ResponseTransformHandler.on_response

    def hook(self: ResponseTransformHandler, exchange: Exchange, response: Response
             ) -> Awaitable[None]:  # fmt: skip
        async def later() -> None:
            await asyncio.sleep(0.05)
            original(self, exchange, response)

        return later()

    monkeypatch.setattr(ResponseTransformHandler, "on_response", hook)


async def test_an_async_request_hook_finishes_in_a_task_and_at_end_runs(
    edge: RunningEdge, upstream: int, ended: list[str]
) -> None:
    edge.swap(route_to(upstream, {"name": "correlation-id"}))
    response = await fetch(edge.port, "GET", "/x")
    assert response.status == 200
    assert ["x-was-async", "1"] in response.json()["headers"]
    assert ended == [response.header("x-request-id")]


async def test_at_end_runs_when_the_client_leaves_during_an_async_hook(
    edge: RunningEdge, upstream: int, ended: list[str]
) -> None:
    edge.swap(route_to(upstream, {"name": "correlation-id"}))
    client = await Client.open(edge.port)
    await client.send(b"GET /x HTTP/1.1\r\nhost: t\r\nx-request-id: gone-1\r\n\r\n")
    await asyncio.sleep(0.05)
    await client.close()
    await asyncio.sleep(0.4)  # the hook's task is cancelled, nothing is forwarded
    assert ended == ["gone-1"]
    lines = [line for line in await edge.log_lines() if line["request_id"] == "gone-1"]
    assert [line["status"] for line in lines] == [499]


async def test_an_async_response_hook_holds_the_head_and_the_body_streams_after(
    edge: RunningEdge, upstream: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    slow_response(monkeypatch)
    edge.swap(route_to(upstream, {"name": "response-transform", "config": ADD_HEADER}))
    async with await Client.open(edge.port) as client:
        for size in (1_000_000, 10):  # keep-alive goes on after a held response
            response = await client.request("GET", f"/__stream?bytes={size}")
            assert response.status == 200
            assert response.header("x-transformed") == "yes"
            assert len(response.body) == size
    assert hashlib.sha256(response.body).hexdigest() == pattern_sha256(10)


async def test_a_buffered_response_is_changed_and_sized(edge: RunningEdge, upstream: int) -> None:
    edge.swap(route_to(upstream, {"name": "response-transform", "config": TRANSFORM_BODY}))
    response = await fetch(edge.port, "GET", "/echo")
    assert response.json()["edge"] == "r"
    assert response.header("content-length") == str(len(response.body))
    assert response.header("transfer-encoding") is None


async def test_a_response_larger_than_the_buffer_streams_unchanged(
    edge: RunningEdge, upstream: int
) -> None:
    edge.swap(route_to(upstream, {"name": "response-transform", "config": TRANSFORM_BODY}))
    for length in ("", "&length=1"):  # chunked, then with a Content-Length
        response = await fetch(edge.port, "GET", f"/__stream?bytes=300000{length}")
        assert response.status == 200
        assert len(response.body) == 300_000


async def test_an_upstream_failing_while_its_response_is_held_is_a_502_not_a_short_body(
    edge: RunningEdge, upstream: int
) -> None:
    edge.swap(route_to(upstream, {"name": "response-transform", "config": TRANSFORM_BODY}))
    response = await fetch(edge.port, "GET", "/__close-mid")
    assert response.status == 502
    assert response.json()["code"] == "upstream_reset"


async def test_a_failing_async_hook_is_a_500(
    edge: RunningEdge, upstream: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(self: object, exchange: Exchange) -> Outcome:
        await asyncio.sleep(0)
        raise RuntimeError("policy bug")

    monkeypatch.setattr(CorrelationIdHandler, "on_request", broken)
    edge.swap(route_to(upstream, {"name": "correlation-id"}))
    response = await fetch(edge.port, "GET", "/x")
    assert (response.status, response.json()["code"]) == (500, "internal_error")
    assert (await fetch(edge.port, "GET", "/x")).status == 500  # and the edge goes on


async def test_per_request_answers_are_not_kept(edge: RunningEdge, upstream: int) -> None:
    validation = {"name": "request-validation", "config": {"query": {"n": {"type": "integer"}}}}
    edge.swap(route_to(upstream, validation))
    for n in range(30):
        response = await fetch(edge.port, "GET", f"/x?n=a{n}")
        assert response.status == 400
        assert response.json()["errors"][0]["name"] == "n"
    gc.collect()
    config = edge.proxy._rt.config
    assert config is not None
    assert len(config._canned) <= 2


async def test_a_cache_leader_whose_client_leaves_releases_the_key(
    edge: RunningEdge, upstream: int
) -> None:
    cache = {"name": "cache", "config": {"ttl": 30, "lock_timeout_ms": 5000}}
    edge.swap(route_to(upstream, cache, path="/__delay"))
    leader = await Client.open(edge.port)
    await leader.send(b"GET /__delay?ms=300 HTTP/1.1\r\nhost: t\r\n\r\n")
    await asyncio.sleep(0.05)
    await leader.close()  # at_end releases the key: the next request fetches at once
    started = asyncio.get_running_loop().time()
    follower = await fetch(edge.port, "GET", "/__delay?ms=300")
    assert (follower.status, follower.header("x-cache")) == (200, "MISS")
    assert asyncio.get_running_loop().time() - started < 2.0


# -- consistent hashing on the consumer ---------------------------------------------------------


async def test_hashing_on_the_consumer_sees_the_authenticated_consumer(
    edge: RunningEdge, upstreams: list[int]
) -> None:
    consumers = [{"name": f"c{n}", "credentials": [{"type": "key-auth", "key": f"key-{n}"}]}
                 for n in range(24)]  # fmt: skip
    pool = upstream_of("pool", upstreams, algorithm="consistent-hash",
                       hash_on={"source": "consumer"})  # fmt: skip
    route = {"id": "r", "paths": ["/"], "upstream": "pool", "policies": [{"name": "key-auth"}]}
    edge.swap({**gateway([route], [pool]), "consumers": consumers})
    first: dict[int, int] = {}
    for round_ in range(2):
        for n in range(24):
            answer = await fetch(edge.port, "GET", "/x", headers=[("apikey", f"key-{n}")])
            port = answer.json()["port"]
            assert first.setdefault(n, port) == port, (round_, n)
    assert len(set(first.values())) == len(upstreams)  # 24 consumers reach all 3 processes


async def test_a_response_header_a_policy_sets_replaces_the_upstreams_in_any_spelling(
    edge: RunningEdge, upstream: int
) -> None:
    """rate-limit sets ``ratelimit-*``: the upstream's own of those names give way (however
    the upstream spells them); its other headers, and a response without a clash, are kept."""
    limit = {"name": "rate-limit", "config": {"rate": 100, "period": "minute", "key": "ip"}}
    edge.swap(route_to(upstream, limit))
    clash = await fetch(edge.port, "GET", "/__with-headers?RATELIMIT-Limit=7&RateLimit-Reset=77"
                                          "&X-Kept=yes")  # fmt: skip
    assert clash.status == 200
    assert clash.all("ratelimit-limit") == ["100"]
    assert clash.all("ratelimit-reset") == ["1"]  # the policy's value, once: the bucket is full
    assert len(clash.all("ratelimit-remaining")) == 1
    assert clash.header("x-kept") == "yes"
    plain = await fetch(edge.port, "GET", "/__with-headers?X-Kept=yes")
    assert plain.all("ratelimit-limit") == ["100"]
    assert plain.header("x-kept") == "yes"

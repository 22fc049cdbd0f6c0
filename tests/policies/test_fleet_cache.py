"""The ``redis`` cache backend fetches a missing key once for the whole fleet: two real edge
processes sharing one real Redis, then the lock's life in Redis (taken, released after the
store, never another's deleted, fail open) with in-process chains on the same Redis."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from edgeway.edge.policies.base import LocalResponse
from edgeway.edge.policies.cache.backends import Entry, RedisBackend
from edgeway.edge.policies.services import Services
from tests.policies.edge_helpers import call
from tests.support.edge_process import StandaloneEdge
from tests.support.exchange import TestExchange, TestResponse, serve
from tests.support.processes import free_port
from tests.support.upstream import UpstreamProcess
from tests.unit.edge.policies.helpers import build, chain_of

LOCKS = "edgeway:cache-lock:*"
ENTRIES = "edgeway:cache:*"


def fleet_config(upstream: int) -> str:
    return f"""\
upstreams:
  - name: slow
    targets: [{{address: "127.0.0.1:{upstream}"}}]
routes:
  - id: slow
    paths: ["/__delay"]
    upstream: slow
    policies:
      - name: cache
        config: {{ttl: 60, backend: redis, redis_timeout_ms: 1000, lock_poll_ms: 20}}
"""


@pytest.fixture
def counting_upstream() -> Iterator[int]:
    """A real upstream process of our own, so its request count is this test's alone."""
    process = UpstreamProcess()
    try:
        yield process.start()
    finally:
        process.stop()


@pytest.fixture
def fleet(redis_url: str, counting_upstream: int, tmp_path: Path) -> Iterator[list[int]]:
    edges = [StandaloneEdge(fleet_config(counting_upstream), tmp_path, name=f"edge-{i}",
                            redis_url=redis_url, access_log=False) for i in range(2)]  # fmt: skip
    try:
        for edge in edges:
            edge.start()
        yield [edge.port for edge in edges]
    finally:
        for edge in edges:
            edge.stop()


async def upstream_hits(port: int) -> int:
    hits: int = (await call(port, "/__stats")).json()["requests"]
    return hits


async def test_concurrent_requests_on_two_edges_make_exactly_one_upstream_fetch(
    fleet: list[int], counting_upstream: int
) -> None:
    responses = await asyncio.gather(*(call(fleet[i % 2], "/__delay?ms=800")
                                       for i in range(20)))  # fmt: skip
    assert [r.status for r in responses] == [200] * 20
    assert await upstream_hits(counting_upstream) == 1
    assert sorted(r.header("x-cache") or "" for r in responses) == ["HIT"] * 19 + ["MISS"]
    assert len({r.body for r in responses}) == 1
    by_edge = [[r.header("x-cache") for r in responses[i::2]] for i in range(2)]
    assert any(cached == ["HIT"] * 10 for cached in by_edge)  # one edge never fetched


# -- the lock in Redis ---------------------------------------------------------------------------


class Origin:
    """An in-process upstream: counts its calls, answers ``status`` after a short while."""

    def __init__(self, status: int = 200) -> None:
        self.calls = 0
        self.status = status

    async def __call__(self, exchange: TestExchange) -> TestResponse:
        self.calls += 1
        await asyncio.sleep(0.05)
        return TestResponse(self.status, [("content-type", "text/plain")], b"body")


async def eventually(probe: Callable[[], Awaitable[Any]], what: str) -> Any:
    """Poll ``probe`` until it returns something truthy (waiting for an effect of background
    work, like the store and unlock after a response; never a timing assertion)."""
    for _ in range(300):
        found = await probe()
        if found:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"{what}: not seen")


@pytest.fixture
async def redis(redis_url: str) -> Any:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


def cache(services: Services, **config: Any) -> Any:
    return build("cache", {"backend": "redis", "lock_timeout_ms": 60000, **config},
                 using=services)  # fmt: skip


async def test_the_lock_is_released_once_the_entry_is_stored(
    redis_services: Services, redis: Redis
) -> None:
    origin = Origin()
    response = await serve(chain_of(cache(redis_services)), TestExchange(path="/p"), origin)
    assert (response.headers["x-cache"], origin.calls) == ("MISS", 1)

    async def stored_and_unlocked() -> bool:
        return bool(await redis.keys(ENTRIES)) and not await redis.keys(LOCKS)

    await eventually(stored_and_unlocked, "entry stored and lock released")


async def test_an_uncacheable_response_releases_the_lock_for_the_others_to_fetch(
    redis_url: str, redis: Redis
) -> None:
    origin = Origin(status=500)
    one, two = Services(redis_url=redis_url), Services(redis_url=redis_url)
    try:
        chains = [chain_of(cache(s)) for s in (one, two)]
        responses = await asyncio.gather(*(serve(c, TestExchange(path="/p"), origin)
                                           for c in chains))  # fmt: skip
        assert [r.status for r in responses] == [500, 500]
        assert origin.calls == 2  # the waiter fetched itself once the lock was gone
        assert not await redis.keys(ENTRIES)

        async def unlocked() -> bool:
            return not await redis.keys(LOCKS)

        await eventually(unlocked, "lock released")
    finally:
        await one.aclose()
        await two.aclose()


async def test_a_lock_held_by_another_edge_is_waited_for_then_left_alone(
    redis_services: Services, redis: Redis
) -> None:
    handler = cache(redis_services, lock_timeout_ms=200, lock_poll_ms=20)
    key = handler.key(TestExchange(path="/p"))
    lock = handler.lock_prefix + key.removeprefix(handler.prefix)
    await redis.set(lock, "a-lost-edge", px=600_000)  # its edge died while fetching
    origin = Origin()
    response = await serve(chain_of(handler), TestExchange(path="/p"), origin)
    assert (response.status, response.headers["x-cache"], origin.calls) == (200, "MISS", 1)
    await eventually(lambda: redis.keys(ENTRIES), "entry stored")
    assert await redis.get(lock) == b"a-lost-edge"  # compare-and-delete: not ours to delete


async def test_a_waiting_edge_answers_the_entry_the_lock_holder_stores(
    redis_services: Services, redis: Redis
) -> None:
    handler = cache(redis_services, lock_poll_ms=20)
    key = handler.key(TestExchange(path="/p"))
    lock = handler.lock_prefix + key.removeprefix(handler.prefix)
    await redis.set(lock, "holder", px=60_000)  # another edge is fetching
    origin = Origin()
    waiting = asyncio.ensure_future(serve(chain_of(handler), TestExchange(path="/p"), origin))

    async def leads_here() -> bool:
        return key in handler.inflight.futures  # past its lookup: it found the lock taken

    await eventually(leads_here, "the request waits on the fleet lock")
    now = time.time()
    body = LocalResponse(200, (("content-type", "text/plain"),), b"from the holder")
    await RedisBackend(redis, 1.0).put(key, Entry(body, now, now + 60))
    await redis.delete(lock)  # the holder stores, then unlocks
    response = await waiting
    assert (response.headers["x-cache"], response.body, origin.calls) == (
        "HIT", b"from the holder", 0)


async def test_an_entry_stored_between_the_lookup_and_the_lock_is_answered_and_unlocked(
    redis_services: Services, redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    handler = cache(redis_services)
    key = handler.key(TestExchange(path="/p"))
    now = time.time()
    body = LocalResponse(200, (("content-type", "text/plain"),), b"stored just now")
    await RedisBackend(redis, 1.0).put(key, Entry(body, now, now + 60))

    async def missed(self: RedisBackend, key: str, now: float) -> None:
        return None  # the lookup ran just before another edge stored the entry

    monkeypatch.setattr(RedisBackend, "get", missed)
    origin = Origin()
    response = await serve(chain_of(handler), TestExchange(path="/p"), origin)
    assert (response.headers["x-cache"], response.body, origin.calls) == (
        "HIT", b"stored just now", 0)

    async def unlocked() -> bool:
        return not await redis.keys(LOCKS)

    await eventually(unlocked, "the lock taken for nothing released")


async def test_a_failing_redis_fails_open_and_the_request_is_fetched() -> None:
    services = Services(redis_url=f"redis://127.0.0.1:{free_port()}")
    try:
        origin = Origin()
        response = await serve(chain_of(cache(services)), TestExchange(path="/p"), origin)
        assert (response.status, response.headers["x-cache"], origin.calls) == (200, "MISS", 1)
    finally:
        await services.aclose()

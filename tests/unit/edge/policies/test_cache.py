"""cache with the memory backend: keys, HIT/MISS, Cache-Control, invalidation, one fetch."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from edgeway.edge.policies.base import LocalResponse
from edgeway.edge.policies.cache.backends import Entry, MemoryBackend
from edgeway.edge.policies.cache.handler import lifetime
from edgeway.edge.policies.cache.schema import MAX_TTL_BELOW_TTL
from tests.support.exchange import TestExchange, TestResponse, answer, serve
from tests.unit.edge.policies.helpers import (
    Clock,
    build,
    chain_of,
    config_problems,
    gateway,
    services,
)

CONFIG = gateway(consumers=[{"name": "admin", "groups": ["ops"]}, {"name": "user"}])
EXPECTED_HIT = ("HIT", b"body 1", "10")


class Origin:
    """An upstream that counts its calls; ``delay`` makes fetches overlap."""

    def __init__(self, delay: float = 0.0, headers: dict[str, str] | None = None) -> None:
        self.calls = 0
        self.delay = delay
        self.headers = headers or {}

    async def __call__(self, exchange: TestExchange) -> TestResponse:
        self.calls += 1
        await asyncio.sleep(self.delay)
        items = [(k.replace("_", "-"), v) for k, v in self.headers.items()]
        return TestResponse(200, [("content-type", "text/plain"), *items],
                            f"body {self.calls}".encode())  # fmt: skip


def cache(clock: Clock, config: dict[str, Any] | None = None) -> Any:
    return build("cache", config, compiled_config=CONFIG, using=services(clock))


async def get(handler: Any, origin: Any, **fields: Any) -> TestResponse:
    return await serve(chain_of(handler), TestExchange(**fields), origin)


async def test_a_miss_then_a_hit_until_the_ttl() -> None:
    clock, origin = Clock(), Origin()
    handler = cache(clock, {"ttl": 30})
    first = await get(handler, origin)
    assert (first.headers["x-cache"], first.body) == ("MISS", b"body 1")
    clock.advance(10)
    second = await get(handler, origin)
    assert (second.headers["x-cache"], second.body, second.headers["age"]) == EXPECTED_HIT
    assert second.headers["content-type"] == "text/plain"
    clock.advance(25)
    assert (await get(handler, origin)).body == b"body 2"


async def test_the_key_holds_method_path_query_and_selected_headers() -> None:
    clock, origin = Clock(), Origin()
    handler = cache(clock, {"vary_query": ["page"], "vary_headers": ["Accept-Language"]})
    await get(handler, origin, path="/a", query="page=1&utm=x")
    again = await get(handler, origin, path="/a", query="utm=y&page=1")
    assert again.headers["x-cache"] == "HIT"
    assert (await get(handler, origin, path="/a", query="page=2")).headers["x-cache"] == "MISS"
    assert (await get(handler, origin, path="/b", query="page=1")).headers["x-cache"] == "MISS"
    other_language = [("accept-language", "fr")]
    assert (await get(handler, origin, path="/a", query="page=1",
                      raw_headers=other_language)).headers["x-cache"] == "MISS"  # fmt: skip


async def test_only_safe_methods_and_cacheable_responses_are_stored() -> None:
    clock = Clock()
    handler = cache(clock)
    posted = Origin()
    await get(handler, posted, method="POST")
    await get(handler, posted, method="POST")
    assert posted.calls == 2
    for headers in ({"cache_control": "no-store"}, {"cache_control": "private, max-age=60"},
                    {"set_cookie": "a=1"}, {"vary": "Cookie"}):
        origin = Origin(headers=headers)
        handler = cache(clock, {"ttl": 60 + len(origin.headers)})
        await get(handler, origin, path="/x")
        await get(handler, origin, path="/x")
        assert origin.calls == 2, headers
    failing = cache(clock, {"statuses": [200]})
    await get(failing, answer(500))
    assert (await get(failing, answer(500))).headers["x-cache"] == "MISS"


async def test_a_responses_max_age_sets_the_ttl_up_to_max_ttl() -> None:
    assert lifetime("public, max-age=10", 300, 3600) == 10
    assert lifetime("s-maxage=20, max-age=10", 300, 3600) == 20
    assert lifetime("max-age=99999", 300, 3600) == 3600
    assert lifetime("", 300, 3600) == 300
    assert lifetime("no-cache", 300, 3600) == 0


async def test_max_age_0_from_an_authorized_consumer_refreshes_others_are_ignored() -> None:
    clock, origin = Clock(), Origin()
    handler = cache(clock, {"invalidate_groups": ["ops"]})
    await get(handler, origin)
    refresh = [("cache-control", "max-age=0")]
    user = CONFIG.consumers["user"]
    ignored = await get(handler, origin, raw_headers=refresh, consumer=user)
    assert (ignored.headers["x-cache"], ignored.body) == ("HIT", b"body 1")
    admin = CONFIG.consumers["admin"]
    refreshed = await get(handler, origin, raw_headers=refresh, consumer=admin)
    assert (refreshed.headers["x-cache"], refreshed.body) == ("MISS", b"body 2")
    assert (await get(handler, origin)).body == b"body 2"


async def test_concurrent_misses_make_one_upstream_fetch() -> None:
    clock, origin = Clock(), Origin(delay=0.05)
    handler = cache(clock)
    responses = await asyncio.gather(*(get(handler, origin) for _ in range(20)))
    assert origin.calls == 1
    assert sorted(r.headers["x-cache"] for r in responses) == ["HIT"] * 19 + ["MISS"]
    assert {r.body for r in responses} == {b"body 1"}
    assert handler.inflight.futures == {}


async def test_waiters_fetch_themselves_when_the_leader_gets_nothing_cacheable() -> None:
    clock = Clock()
    handler = cache(clock)
    origin = Origin(delay=0.02, headers={"cache_control": "no-store"})
    responses = await asyncio.gather(*(get(handler, origin) for _ in range(3)))
    assert origin.calls == 3
    assert {r.headers["x-cache"] for r in responses} == {"MISS"}


def test_the_memory_backend_is_a_bounded_lru() -> None:
    memory = MemoryBackend(max_entries=2, max_bytes=10)

    def entry(body: bytes) -> Entry:
        return Entry(LocalResponse(200, (), body), 0.0, 100.0)

    memory.put("a", entry(b"1"))
    memory.put("b", entry(b"2"))
    assert memory.get("a", 1.0) is not None  # a is now the most recent
    memory.put("c", entry(b"3"))
    assert memory.get("b", 1.0) is None
    memory.put("big", entry(b"x" * 10))
    assert len(memory) == 1
    assert memory.get("big", 200.0) is None  # expired


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"ttl": 0}, "routes[0].policies[0].config.ttl: must be at least 1"),
        ({"ttl": 600, "max_ttl": 60}, f"routes[0].policies[0].config.max_ttl: {MAX_TTL_BELOW_TTL}"),
        ({"methods": ["POST"]},
         "routes[0].policies[0].config.methods[0]: must be one of GET, HEAD"),
        ({"backend": "disk"}, "routes[0].policies[0].config.backend: must be one of memory, redis"),
        ({"vary_query": ["*", "page"]},
         'routes[0].policies[0].config.vary_query: use either ["*"] or a list of names'),
        ({"statuses": [199]}, "routes[0].policies[0].config.statuses[0]: must be at least 200"),
    ],
)  # fmt: skip
def test_invalid_configs_name_the_field(config: dict[str, Any], expected: str) -> None:
    assert config_problems("cache", config) == [expected]


def test_the_issue_shape_is_valid() -> None:
    assert config_problems("cache", {"ttl": 30}) == []

"""Usage plans and the cache against a real Redis: fleet-wide quotas across periods,
``usage()`` for ``edgeway usage --key K``, and a response cache shared by two edges."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from redis.asyncio import Redis

from edgeway.edge.compile import CompiledConfig, PolicyStep
from edgeway.edge.policies.chain import prepare_chain
from edgeway.edge.policies.services import Services
from edgeway.edge.policies.usage_plan import subject_for_consumer, subject_for_key, usage
from tests.support.exchange import TestExchange, TestResponse, serve
from tests.support.processes import free_port, run_cli
from tests.unit.edge.policies.helpers import Clock, build, chain_of, gateway

DAY = 86_400.0
PLANS: list[dict[str, Any]] = [{"name": "gold", "throttle": {"rate": 100, "burst": 100},
          "quota": {"limit": 3, "period": "day"}}]  # fmt: skip
CONSUMERS: list[dict[str, Any]] = [{"name": "acme", "usage_plan": "gold",
              "credentials": [{"type": "key-auth", "key": "acme-key"}]},
             {"name": "initech", "usage_plan": "gold", "groups": ["ops"]}]  # fmt: skip


class Edge:
    """One edge: its own Services (same Redis), key-auth, and the consumers' implicit plans."""

    def __init__(self, url: str, clock: Clock, plans: list[dict[str, Any]] = PLANS,
                 consumers: list[dict[str, Any]] = CONSUMERS) -> None:  # fmt: skip
        self.services = Services(redis_url=url, clock=clock, wall=clock.wall)
        self.compiled: CompiledConfig = gateway(usage_plans=plans, consumers=consumers)
        for consumer in self.compiled.consumers.values():
            for step in consumer.policies:
                assert step.handler is not None
                step.handler.bind(self.compiled, self.services)
        auth = build("key-auth", compiled_config=self.compiled, using=self.services)
        self.chain = prepare_chain([PolicyStep(auth.NAME, auth.PHASE, auth.PRIORITY, "r",
                                               auth.config, handler=auth)])  # fmt: skip

    async def call(self, key: str = "acme-key") -> TestResponse:
        return await serve(self.chain, TestExchange.of({"apikey": key}))


async def test_a_quota_is_shared_by_the_fleet_and_resets_the_next_day(redis_url: str) -> None:
    clock = Clock(wall=1_767_225_600.0)  # 2026-01-01T00:00Z
    one, two = Edge(redis_url, clock), Edge(redis_url, clock)
    try:
        statuses = [(await edge.call()).status for edge in (one, two, one, two)]
        assert statuses == [200, 200, 200, 429]
        refused = await one.call()
        assert refused.headers["x-quota-remaining"] == "0"
        clock.advance(DAY)
        assert (await two.call()).status == 200
    finally:
        await one.services.aclose()
        await two.services.aclose()


async def test_usage_reports_what_a_key_consumed(redis_url: str) -> None:
    clock = Clock(wall=1_767_225_600.0)
    edge = Edge(redis_url, clock)
    try:
        for _ in range(2):
            assert (await edge.call()).status == 200
        redis = edge.services.redis
        assert redis is not None
        report = await usage(redis, subject_for_key("acme-key"), now=clock.wall())
        assert report["subject"] == subject_for_key("acme-key")
        assert report["quotas"] == [{
            "period": "day", "id": "2026-01-01", "plan": "gold", "used": 2, "limit": 3,
            "remaining": 1, "resets_at": "2026-01-02T00:00:00+00:00",
        }]  # fmt: skip
        assert report["throttle"] is not None
        assert 97 <= report["throttle"]["tokens"] <= 100
        nobody = await usage(redis, subject_for_consumer("nobody"), now=clock.wall())
        assert nobody == {"subject": "consumer:nobody", "throttle": None, "quotas": []}
    finally:
        await edge.services.aclose()


async def test_a_throttled_call_does_not_use_quota(redis_url: str) -> None:
    plans = [{"name": "tight", "throttle": {"rate": 0.001, "burst": 1},
              "quota": {"limit": 100, "period": "month"}}]  # fmt: skip
    consumers = [{"name": "c", "usage_plan": "tight",
                  "credentials": [{"type": "key-auth", "key": "c-key"}]}]  # fmt: skip
    clock = Clock()
    edge = Edge(redis_url, clock, plans, consumers)
    try:
        statuses = [(await edge.call("c-key")).status for _ in range(3)]
        assert statuses == [200, 429, 429]
        assert edge.services.redis is not None
        report = await usage(edge.services.redis, subject_for_key("c-key"), now=clock.wall())
        assert report["quotas"][0]["used"] == 1
    finally:
        await edge.services.aclose()


class Origin:
    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, exchange: TestExchange) -> TestResponse:
        self.calls += 1
        await asyncio.sleep(0.02)
        return TestResponse(200, [("content-type", "application/json")], b'{"n": %d}' % self.calls)


async def test_the_redis_cache_is_shared_by_two_edges(redis_url: str) -> None:
    config: dict[str, Any] = {"ttl": 30, "backend": "redis"}
    first, second = Services(redis_url=redis_url), Services(redis_url=redis_url)
    origin = Origin()
    try:
        a = chain_of(build("cache", config, using=first))
        b = chain_of(build("cache", config, using=second))
        miss = await serve(a, TestExchange(path="/p"), origin)
        assert miss.headers["x-cache"] == "MISS"
        await asyncio.sleep(0.05)  # the store is written in the background
        hit = await serve(b, TestExchange(path="/p"), origin)
        assert (hit.headers["x-cache"], hit.body, origin.calls) == ("HIT", b'{"n": 1}', 1)
        assert hit.headers["content-type"] == "application/json"
        burst = await asyncio.gather(*(serve(b, TestExchange(path="/q"), origin)
                                       for _ in range(10)))  # fmt: skip
        assert origin.calls == 2  # one fetch per key at a time within an edge
        assert sorted(r.headers["x-cache"] for r in burst) == ["HIT"] * 9 + ["MISS"]
        redis = Redis.from_url(redis_url)
        keys = await redis.keys("edgeway:cache:*")
        await redis.aclose()
        assert len(keys) == 2
    finally:
        await first.aclose()
        await second.aclose()


async def test_the_usage_command_shows_a_keys_consumption(redis_url: str) -> None:
    clock = Clock(wall=time.time())
    edge = Edge(redis_url, clock)
    try:
        for _ in range(2):
            assert (await edge.call()).status == 200
    finally:
        await edge.services.aclose()
    result = await asyncio.to_thread(run_cli, "usage", "--key", "acme-key", "--redis", redis_url,
                                     "-o", "json")
    assert result.returncode == 0, result.stderr
    day = [q for q in json.loads(result.stdout)["quotas"] if q["period"] == "day"]
    assert day[0]["used"] == 2
    assert day[0]["remaining"] == 1
    table = await asyncio.to_thread(run_cli, "usage", "--key", "acme-key", "--redis", redis_url)
    assert "used 2 of 3" in table.stdout
    bad = await asyncio.to_thread(run_cli, "usage", "--redis", redis_url)
    assert bad.returncode == 2
    down = await asyncio.to_thread(run_cli, "usage", "--key", "k", "--redis",
                                   f"redis://127.0.0.1:{free_port()}")
    assert down.returncode == 1
    assert "cannot read usage from Redis" in down.stderr

"""rate-limit in local mode: AWS token-bucket semantics, keys, headers, shared state."""

from __future__ import annotations

import json
from typing import Any

import pytest

from edgeway.edge.policies.rate_limit.schema import KEY_NAME_REQUIRED, KEY_NAME_UNUSED
from tests.support.exchange import TestExchange, serve
from tests.unit.edge.policies.helpers import (
    Clock,
    build,
    chain_of,
    config_problems,
    gateway,
    services,
)


def limiter(config: dict[str, Any], clock: Clock) -> Any:
    return build("rate-limit", config, using=services(clock))


async def admitted(handler: Any, count: int, **fields: Any) -> int:
    chain = chain_of(handler)
    statuses = [(await serve(chain, TestExchange(**fields))).status for _ in range(count)]
    return statuses.count(200)


async def test_burst_is_admitted_at_once_then_the_rate_refills() -> None:
    clock = Clock()
    handler = limiter({"rate": 2, "period": "second", "burst": 5}, clock)
    assert await admitted(handler, 8) == 5
    clock.advance(1.0)  # two tokens back
    assert await admitted(handler, 5) == 2
    clock.advance(100)  # never more than the burst
    assert await admitted(handler, 10) == 5


async def test_the_burst_defaults_to_the_rate_rounded_up() -> None:
    clock = Clock()
    assert await admitted(limiter({"rate": 2.5, "period": "minute"}, clock), 10) == 3


async def test_a_refusal_is_429_json_with_retry_after_and_ratelimit_headers() -> None:
    clock = Clock()
    chain = chain_of(limiter({"rate": 1, "period": "minute", "burst": 1}, clock))
    first = await serve(chain, TestExchange.of())
    assert first.headers["ratelimit-limit"] == "1"
    assert first.headers["ratelimit-remaining"] == "0"
    assert first.headers["ratelimit-reset"] == "60"
    clock.advance(15)
    second = await serve(chain, TestExchange.of())
    assert second.status == 429
    assert json.loads(second.body or b"") == {"code": "rate_limited",
                                              "message": "API rate limit exceeded"}
    assert second.headers["retry-after"] == "45"


async def test_callers_count_apart_by_consumer_or_address() -> None:
    clock = Clock()
    handler = limiter({"rate": 1, "period": "hour", "burst": 1}, clock)
    assert await admitted(handler, 3, client_ip="198.51.100.1") == 1
    assert await admitted(handler, 3, client_ip="198.51.100.2") == 1  # no consumer: by ip
    config = gateway(consumers=[{"name": "acme"}])
    acme = config.consumers["acme"]
    assert await admitted(handler, 3, consumer=acme, client_ip="198.51.100.1") == 1


@pytest.mark.parametrize(
    ("key", "fields_a", "fields_b"),
    [
        ({"key": "header", "key_name": "X-Tenant"},
         {"raw_headers": [("x-tenant", "a")]}, {"raw_headers": [("x-tenant", "b")]}),
        ({"key": "path-param", "key_name": "id"}, {"params": {"id": "1"}}, {"params": {"id": "2"}}),
        ({"key": "route"}, {"route_id": "a"}, {"route_id": "b"}),
        ({"key": "ip"}, {"client_ip": "192.0.2.1"}, {"client_ip": "192.0.2.2"}),
    ],
)  # fmt: skip
async def test_each_key_kind_separates_callers(
    key: dict[str, Any], fields_a: dict[str, Any], fields_b: dict[str, Any]
) -> None:
    handler = limiter({"rate": 1, "period": "day", "burst": 1, **key}, Clock())
    assert await admitted(handler, 2, **fields_a) == 1
    assert await admitted(handler, 2, **fields_b) == 1


async def test_scope_route_counts_routes_apart_and_shared_does_not() -> None:
    per_route = limiter({"rate": 1, "period": "day", "burst": 1}, Clock())
    routes = [await admitted(per_route, 1, route_id=r) for r in ("a", "b")]
    assert routes == [1, 1]
    shared = limiter({"rate": 1, "period": "day", "burst": 1, "scope": "shared"}, Clock())
    assert [await admitted(shared, 1, route_id=r) for r in ("a", "b")] == [1, 0]


async def test_a_new_config_version_keeps_the_buckets() -> None:
    clock = Clock()
    using = services(clock)
    config = {"rate": 1, "period": "day", "burst": 2}
    old = build("rate-limit", config, using=using)
    assert await admitted(old, 1) == 1
    new = build("rate-limit", config, using=using)  # the next version binds the same state
    assert await admitted(new, 3) == 1


async def test_cluster_mode_without_redis_counts_locally() -> None:
    handler = limiter({"rate": 1, "period": "day", "burst": 2, "mode": "cluster"}, Clock())
    assert handler.runner is None
    assert await admitted(handler, 4) == 2


async def test_headers_can_be_turned_off() -> None:
    chain = chain_of(limiter({"rate": 1, "headers": False}, Clock()))
    response = await serve(chain, TestExchange.of())
    assert "ratelimit-limit" not in response.headers


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({}, "routes[0].policies[0].config.rate: is required"),
        ({"rate": 0}, "routes[0].policies[0].config.rate: must be greater than 0"),
        ({"rate": 1, "period": "week"},
         "routes[0].policies[0].config.period: must be one of second, minute, hour, day"),
        ({"rate": 1, "burst": 0}, "routes[0].policies[0].config.burst: must be at least 1"),
        ({"rate": 1, "key": "header"},
         f"routes[0].policies[0].config.key_name: {KEY_NAME_REQUIRED}"),
        ({"rate": 1, "key_name": "x"}, f"routes[0].policies[0].config.key_name: {KEY_NAME_UNUSED}"),
        ({"rate": 1, "key": "header", "key_name": "a b"},
         "routes[0].policies[0].config.key_name: must be an HTTP header name (letters, digits,"
         " - and _)"),
        ({"rate": 1, "mode": "fleet"},
         "routes[0].policies[0].config.mode: must be one of local, cluster"),
        ({"rate": 1, "failure_mode": "maybe"},
         "routes[0].policies[0].config.failure_mode: must be one of open, closed"),
        ({"rate": 1, "redis_timeout_ms": 0},
         "routes[0].policies[0].config.redis_timeout_ms: must be at least 1"),
    ],
)  # fmt: skip
def test_invalid_configs_name_the_field(config: dict[str, Any], expected: str) -> None:
    assert config_problems("rate-limit", config) == [expected]


def test_the_issue_shape_is_valid() -> None:
    config = {"rate": 20, "period": "minute", "burst": 20, "key": "consumer", "mode": "cluster"}
    assert config_problems("rate-limit", config) == []


def test_the_bucket_namespace_depends_on_every_value_and_not_on_key_order() -> None:
    from edgeway.edge.policies.base import freeze
    from edgeway.edge.policies.rate_limit.handler import config_digest

    one = {"rate": 10, "period": "minute", "burst": 5, "key": "ip"}
    reordered = {"key": "ip", "burst": 5, "period": "minute", "rate": 10}
    assert config_digest(freeze(one)) == config_digest(freeze(reordered))
    assert config_digest(freeze(one)) != config_digest(freeze({**one, "rate": 11}))

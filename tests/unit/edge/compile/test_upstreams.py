"""Upstream rules: names, targets, keywords and numeric bounds."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.configs import base, compiled, problems


def upstream(**fields: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"name": "users", "targets": [{"address": "127.0.0.1:8001"}]}
    data.update(fields)
    return data


def upstream_problems(**fields: Any) -> list[str]:
    return problems(base(upstreams=[upstream(**fields)]))


def test_an_upstream_name_is_required() -> None:
    data = base(upstreams=[upstream(), upstream(name="")])
    assert problems(data) == ["upstreams[1].name: an upstream name is required"]


def test_upstream_names_are_unique() -> None:
    data = base(upstreams=[upstream(), upstream()])
    assert problems(data) == [
        "upstreams[1].name: duplicate upstream name 'users' (also upstreams[0])"
    ]


def test_an_upstream_name_is_a_plain_word() -> None:
    (error,) = problems(base(upstreams=[upstream(), upstream(name="my upstream")]))
    assert error.startswith("upstreams[1].name: must be letters, digits")


def test_a_routed_upstream_needs_targets() -> None:
    assert upstream_problems(targets=[]) == [
        "upstreams[0].targets: a routed upstream needs at least one target"
    ]


def test_an_unused_upstream_may_have_no_targets_yet() -> None:
    assert problems(base(upstreams=[upstream(), upstream(name="spare", targets=[])])) == []


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("127.0.0.1", "expected HOST:PORT, got '127.0.0.1'"),
        ("h:0", "port must be a number from 1 to 65535, got '0' in 'h:0'"),
        ("h:70000", "port must be a number from 1 to 65535, got '70000' in 'h:70000'"),
        ("[nope]:80", "'nope' is not an IPv6 address (in '[nope]:80')"),
        ("bad host:80", "'bad host' is not a valid host name"),
    ],
)
def test_a_target_address_must_be_host_and_port(address: str, message: str) -> None:
    assert upstream_problems(targets=[{"address": address}]) == [
        f"upstreams[0].targets[0].address: {message}"
    ]


@pytest.mark.parametrize("address", ["10.0.0.1:80", "[::1]:8080", "users_svc.local:65535"])
def test_well_formed_target_addresses_are_accepted(address: str) -> None:
    assert upstream_problems(targets=[{"address": address}]) == []


def test_a_target_listed_twice_is_refused() -> None:
    targets = [{"address": "h:1"}, {"address": "H:1"}]
    assert upstream_problems(targets=targets) == [
        "upstreams[0].targets[1].address: target 'H:1' is listed twice (also targets[0])"
    ]


def test_a_negative_weight_is_refused() -> None:
    targets = [{"address": "h:1", "weight": -1}, {"address": "h:2"}]
    assert upstream_problems(targets=targets) == [
        "upstreams[0].targets[0].weight: must be 0 (drained) or more"
    ]


def test_at_least_one_target_needs_weight() -> None:
    targets = [{"address": "h:1", "weight": 0}, {"address": "h:2", "weight": 0}]
    assert upstream_problems(targets=targets) == [
        "upstreams[0].targets: at least one target needs a weight above 0"
    ]


def test_the_algorithm_must_be_a_known_keyword() -> None:
    assert upstream_problems(algorithm="random") == [
        "upstreams[0].algorithm: must be one of round-robin, least-connections, "
        "consistent-hash (got 'random')"
    ]


def test_consistent_hashing_needs_hash_on() -> None:
    assert upstream_problems(algorithm="consistent-hash") == [
        "upstreams[0].hash_on: is required with the consistent-hash algorithm"
    ]


def test_hash_on_applies_only_to_consistent_hashing() -> None:
    assert upstream_problems(hash_on={"source": "client-ip"}) == [
        "upstreams[0].hash_on: applies only to the consistent-hash algorithm"
    ]


@pytest.mark.parametrize("source", ["header", "cookie", "path-param"])
def test_hash_sources_that_read_a_value_need_its_name(source: str) -> None:
    assert upstream_problems(algorithm="consistent-hash", hash_on={"source": source}) == [
        f"upstreams[0].hash_on.name: is required when source is {source}"
    ]


def test_hash_sources_without_a_name_refuse_one() -> None:
    hash_on = {"source": "consumer", "name": "x"}
    assert upstream_problems(algorithm="consistent-hash", hash_on=hash_on) == [
        "upstreams[0].hash_on.name: is not used with source consumer"
    ]


def test_the_hash_source_must_be_a_known_keyword() -> None:
    hash_on = {"source": "ip"}
    assert upstream_problems(algorithm="consistent-hash", hash_on=hash_on) == [
        "upstreams[0].hash_on.source: must be one of header, cookie, client-ip, consumer, "
        "path-param (got 'ip')"
    ]


def test_the_scheme_is_http_or_https() -> None:
    assert upstream_problems(scheme="ftp") == [
        "upstreams[0].scheme: must be one of http, https (got 'ftp')"
    ]


@pytest.mark.parametrize(
    ("timeouts", "error"),
    [
        ({"connect_ms": 60_001}, "connect_ms: must be between 1 and 60000 (0 or unset: default)"),
        ({"total_ms": -5}, "total_ms: must be between 1 and 600000 (0 or unset: default)"),
        ({"first_byte_ms": 3000, "total_ms": 2000},
         "first_byte_ms: must not exceed the total timeout (2000 ms)"),
    ],
)  # fmt: skip
def test_timeouts_stay_within_bounds(timeouts: dict[str, int], error: str) -> None:
    assert upstream_problems(timeouts=timeouts) == [f"upstreams[0].timeouts.{error}"]


def test_timeouts_default_when_unset() -> None:
    timeouts = compiled(base()).upstreams["users"].timeouts
    assert (timeouts.connect_ms, timeouts.first_byte_ms, timeouts.total_ms) == (5000, 29000, 29000)


@pytest.mark.parametrize(
    ("retries", "error"),
    [
        ({"attempts": 11}, "attempts: must be between 0 and 10"),
        ({"budget_percent": 101}, "budget_percent: must be between 0 and 100"),
    ],
)
def test_retries_stay_within_bounds(retries: dict[str, int], error: str) -> None:
    assert upstream_problems(retries=retries) == [f"upstreams[0].retries.{error}"]


def test_active_health_checks_stay_within_bounds() -> None:
    active = {"path": "health", "interval_ms": 500, "timeout_ms": 70_000,
              "healthy_threshold": 101, "healthy_statuses": [200, 99]}  # fmt: skip
    assert upstream_problems(health_checks={"active": active}) == [
        "upstreams[0].health_checks.active.path: must start with '/'",
        "upstreams[0].health_checks.active.interval_ms: must be between 1000 and 3600000 "
        "(0 or unset: default)",
        "upstreams[0].health_checks.active.timeout_ms: must be between 1 and 60000 "
        "(0 or unset: default)",
        "upstreams[0].health_checks.active.healthy_statuses[1]: must be 100..599",
        "upstreams[0].health_checks.active.healthy_threshold: must be between 1 and 100 "
        "(0 or unset: default)",
    ]


def test_an_active_check_times_out_before_the_next_one() -> None:
    active = {"interval_ms": 2000, "timeout_ms": 2000}
    assert upstream_problems(health_checks={"active": active}) == [
        "upstreams[0].health_checks.active.timeout_ms: must be less than interval_ms (2000)"
    ]


def test_passive_health_checks_stay_within_bounds() -> None:
    passive = {"max_failures": 1001, "ejection_ms": 10}
    assert upstream_problems(health_checks={"passive": passive}) == [
        "upstreams[0].health_checks.passive.max_failures: must be between 1 and 1000 "
        "(0 or unset: default)",
        "upstreams[0].health_checks.passive.ejection_ms: must be between 1000 and 3600000 "
        "(0 or unset: default)",
    ]


def test_health_checks_are_off_unless_configured_and_defaulted_when_on() -> None:
    plain = compiled(base()).upstreams["users"]
    assert plain.active_health is None
    assert plain.passive_health is None
    checked = compiled(base(upstreams=[upstream(health_checks={"active": {}, "passive": {}})]))
    pool = checked.upstreams["users"]
    assert pool.active_health is not None
    assert (pool.active_health.path, pool.active_health.interval_ms) == ("/", 10_000)
    assert pool.passive_health is not None
    assert pool.passive_health.max_failures == 5


def test_circuit_breaker_and_keepalive_stay_within_bounds() -> None:
    fields = {"circuit_breaker": {"failure_threshold": -1, "open_ms": 50}, "keepalive_pool": 10_001}
    assert upstream_problems(**fields) == [
        "upstreams[0].circuit_breaker.failure_threshold: must be between 1 and 10000 "
        "(0 or unset: default)",
        "upstreams[0].circuit_breaker.open_ms: must be between 100 and 3600000 "
        "(0 or unset: default)",
        "upstreams[0].keepalive_pool: must be between 1 and 10000 (0 or unset: default)",
    ]

"""Retries: only idempotent requests or requests that never reached a target, each to another
target, capped per request and by the upstream's retry budget; timeouts per route and upstream."""

from __future__ import annotations

from typing import Any

import pytest

from tests.edge.client import fetch
from tests.edge.conftest import RunningEdge, gateway, set_upstream, upstream_of, upstream_stats
from tests.edge.test_errors import assert_error
from tests.support.processes import free_port

pytestmark = pytest.mark.asyncio(loop_scope="module")


def pool(ports: list[int], **extra: Any) -> dict[str, Any]:
    route = {"id": "r", "paths": ["/"], "upstream": "pool", **extra.pop("route", {})}
    return gateway([route], [upstream_of("pool", ports, **extra)])


async def counts(ports: list[int]) -> list[int]:
    return [(await upstream_stats(port))["requests"] for port in ports]


async def test_a_get_is_retried_on_another_target_when_the_first_refuses(
    edge: RunningEdge, healed: list[int]
) -> None:
    live = healed[0]
    edge.swap(pool([free_port(), live]))
    for _ in range(4):
        response = await fetch(edge.port, "GET", "/x")
        assert response.status == 200
        assert response.json()["port"] == live


async def test_a_post_that_never_reached_a_target_is_retried_with_its_body(
    edge: RunningEdge, healed: list[int]
) -> None:
    edge.swap(pool([free_port(), healed[0]]))
    body = b"order-" * 1000
    response = await fetch(edge.port, "POST", "/orders", body=body)
    assert response.status == 200
    assert response.json()["body_size"] == len(body)


async def test_a_post_that_reached_the_target_is_never_retried(
    edge: RunningEdge, healed: list[int]
) -> None:
    failing, live = healed[0], healed[1]
    await set_upstream(failing, fail="reset")
    edge.swap(pool([failing, live]))  # round robin starts with the failing target
    response = await fetch(edge.port, "POST", "/orders", body=b"pay 100")
    assert_error(response, 502, "upstream_reset")
    assert await counts([failing, live]) == [1, 0]
    edge.swap(pool([failing, live]))  # the same, for a GET: retried on the other target
    response = await fetch(edge.port, "GET", "/orders")
    assert response.status == 200
    assert response.json()["port"] == live
    assert await counts([failing, live]) == [2, 1]


async def test_on_connect_failure_false_keeps_even_an_unsent_post_from_being_retried(
    edge: RunningEdge, healed: list[int]
) -> None:
    edge.swap(pool([free_port(), healed[0]], retries={"on_connect_failure": False}))
    response = await fetch(edge.port, "POST", "/orders", body=b"x")
    assert_error(response, 502, "upstream_unavailable")
    assert (await fetch(edge.port, "GET", "/x")).status == 200  # a GET still is


async def test_retries_are_capped_per_request_and_never_repeat_a_target(
    edge: RunningEdge, healed: list[int]
) -> None:
    for port in healed:
        await set_upstream(port, fail="reset")
    edge.swap(pool(healed, retries={"attempts": 1}))
    assert_error(await fetch(edge.port, "GET", "/x"), 502, "upstream_reset")
    assert sorted(await counts(healed)) == [0, 1, 1]
    edge.swap(pool(healed, route={"retries": {"attempts": 5}}))  # more than there are targets
    assert_error(await fetch(edge.port, "GET", "/x"), 502, "upstream_reset")
    assert sorted(await counts(healed)) == [1, 2, 2]


async def test_the_retry_budget_keeps_retries_from_multiplying_an_outage(
    edge: RunningEdge, healed: list[int]
) -> None:
    failing = healed[:2]
    for port in failing:
        await set_upstream(port, fail="reset")
    edge.swap(pool(failing, retries={"attempts": 1, "budget_percent": 10}))
    for _ in range(60):
        assert (await fetch(edge.port, "GET", "/x")).status == 502
    attempts = sum(await counts(failing))
    # without a budget every request would be tried twice (120); 10% of 60 allows 6 retries
    assert 61 <= attempts <= 66, attempts


async def test_a_zero_budget_turns_retries_off(edge: RunningEdge, healed: list[int]) -> None:
    edge.swap(pool([free_port(), healed[0]], retries={"budget_percent": 0}))
    assert_error(await fetch(edge.port, "GET", "/x"), 502, "upstream_unavailable")


async def test_timeouts_of_a_route_override_the_upstreams(
    edge: RunningEdge, healed: list[int]
) -> None:
    config = gateway(
        [{"id": "impatient", "paths": ["/a"], "upstream": "pool", "strip_path": True},
         {"id": "patient", "paths": ["/b"], "upstream": "pool", "strip_path": True,
          "timeouts": {"first_byte_ms": 2000}}],
        [upstream_of("pool", [healed[0]], timeouts={"first_byte_ms": 150, "total_ms": 3000})],
    )  # fmt: skip
    edge.swap(config)
    body = assert_error(await fetch(edge.port, "GET", "/a/__delay?ms=400"), 504,
                        "upstream_timeout")
    assert "150 ms" in body["message"]
    assert (await fetch(edge.port, "GET", "/b/__delay?ms=400")).status == 200

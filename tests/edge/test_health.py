"""Health checks: active probes eject an unhealthy target and bring it back, passive checks
eject a failing target for a cool-down, and no healthy target means 503 at once."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

import pytest

from edgeway.edge.balancing import HealthBoard, TargetState
from edgeway.edge.compile.model import ActiveHealthCheck, PassiveHealthCheck
from tests.edge.client import fetch
from tests.edge.conftest import RunningEdge, gateway, set_upstream, upstream_of, upstream_stats
from tests.edge.test_errors import assert_error

aio = pytest.mark.asyncio(loop_scope="module")

ACTIVE = {"active": {"path": "/__health", "interval_ms": 1000, "timeout_ms": 500,
                     "healthy_threshold": 1, "unhealthy_threshold": 1}}
PASSIVE = {"passive": {"max_failures": 2, "ejection_ms": 1000}}


def checked(ports: list[int], health: dict[str, Any]) -> dict[str, Any]:
    return gateway([{"id": "r", "paths": ["/"], "upstream": "pool"}],
                   [upstream_of("pool", ports, health_checks=health)])


async def spread(port: int, count: int = 6) -> Counter[int]:
    """Which upstream ports ``count`` requests reached (errors count as port 0)."""
    seen: Counter[int] = Counter()
    for _ in range(count):
        response = await fetch(port, "GET", "/x")
        seen[response.json().get("port", 0) if response.status == 200 else 0] += 1
    return seen


async def until(probe: Any, within: float = 6.0) -> Any:
    """Await ``probe()`` until it is truthy or ``within`` seconds passed; return its last
    result."""
    deadline = time.monotonic() + within
    while True:
        found = await probe()
        if found or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.1)


def test_thresholds_decide_when_probes_change_the_verdict() -> None:
    board = HealthBoard("u")
    state = TargetState("t", board)
    check = ActiveHealthCheck("/", 1000, 500, healthy_threshold=2, unhealthy_threshold=3,
                              healthy_statuses=frozenset({200}))
    assert [state.probed(False, check) for _ in range(3)] == [None, None, False]
    assert (state.up, board.down) == (False, 1)
    assert [state.probed(True, check) for _ in range(2)] == [None, True]
    assert (state.up, board.down) == (True, 0)


def test_passive_ejection_lasts_its_cool_down() -> None:
    board = HealthBoard("u")
    state = TargetState("t", board)
    passive = PassiveHealthCheck(max_failures=2, ejection_ms=1000)
    assert state.failed(10.0, passive) is False
    state.passed()  # a success in between: consecutive failures start again
    assert [state.failed(10.0, passive), state.failed(10.1, passive)] == [False, True]
    assert not state.available(10.5)
    assert board.down == 1
    assert state.available(11.2)
    assert (state.up, board.down) == (True, 0)


@aio
async def test_an_unhealthy_target_is_ejected_by_probes_and_comes_back(
    edge: RunningEdge, healed: list[int]
) -> None:
    sick, well = healed[0], healed[1]
    edge.swap(checked([sick, well], ACTIVE))
    assert set(await spread(edge.port)) == {sick, well}
    await set_upstream(sick, health=503)
    assert await until(lambda: _only(edge.port, well)), "the failing probe never ejected it"
    await set_upstream(sick, health=200)
    assert await until(lambda: _reaches(edge.port, sick)), "the target never came back"
    assert (await upstream_stats(sick))["health_probes"] >= 2
    assert (await upstream_stats(well))["health_probes"] >= 2


async def _only(port: int, target: int) -> bool:
    return await spread(port) == Counter({target: 6})


async def _reaches(port: int, target: int) -> bool:
    return target in await spread(port)


@aio
async def test_consecutive_failures_eject_a_target_for_its_cool_down(
    edge: RunningEdge, healed: list[int]
) -> None:
    sick, well = healed[0], healed[1]
    edge.swap(checked([sick, well], PASSIVE))
    await set_upstream(sick, fail="500")
    seen = await spread(edge.port, 4)  # sick answers 500 twice: ejected
    assert seen == {0: 2, well: 2}
    assert await spread(edge.port, 6) == {well: 6}
    await set_upstream(sick)
    started = time.monotonic()
    assert await until(lambda: _reaches(edge.port, sick), within=3.0)
    assert time.monotonic() - started < 2.5  # back after the 1 s cool-down


@aio
async def test_no_healthy_target_is_503_at_once_without_reaching_any(
    edge: RunningEdge, healed: list[int]
) -> None:
    edge.swap(checked(healed[:2], PASSIVE))
    for port in healed[:2]:
        await set_upstream(port, fail="502")
    assert await spread(edge.port, 4) == {0: 4}  # each target failed twice: both ejected
    before = [(await upstream_stats(port))["requests"] for port in healed[:2]]
    started = time.monotonic()
    response = await fetch(edge.port, "GET", "/x")
    assert time.monotonic() - started < 0.1
    body = assert_error(response, 503, "no_healthy_upstream")
    assert "'pool'" in body["message"]
    after = [(await upstream_stats(port))["requests"] for port in healed[:2]]
    assert after == before

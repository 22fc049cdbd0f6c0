"""Smooth weighted round robin and least connections: the sequences, the shares, drained
targets, and the distribution a real set of upstream processes sees through the edge."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from edgeway.edge.balancing import HealthBoard, LeastConnections, TargetState, WeightedRoundRobin
from tests.edge.client import Client, fetch
from tests.edge.conftest import RunningEdge, gateway, upstream_of


def test_picks_interleave_like_nginx() -> None:
    balancer = WeightedRoundRobin([5, 1, 1])
    assert "".join("abc"[balancer.pick()] for _ in range(14)) == "aabacaa" * 2


@pytest.mark.parametrize("weights", [[1], [1, 1], [3, 2, 1], [10, 1], [7, 3, 0, 5]])
def test_every_window_of_total_weight_picks_each_target_weight_times(
    weights: list[int],
) -> None:
    balancer = WeightedRoundRobin(weights)
    total = sum(weights)
    for _ in range(3):
        window = Counter(balancer.pick() for _ in range(total))
        assert window == Counter({i: w for i, w in enumerate(weights) if w})


def test_without_any_positive_weight_there_is_nothing_to_pick() -> None:
    with pytest.raises(ValueError, match="above 0"):
        WeightedRoundRobin([0, 0])


@pytest.mark.asyncio(loop_scope="module")
async def test_requests_are_spread_over_upstream_processes_by_weight(
    edge: RunningEdge, upstreams: list[int]
) -> None:
    edge.swap(gateway(
        [{"id": "r", "paths": ["/"], "upstream": "pool"}],
        [upstream_of("pool", upstreams, weights=[3, 2, 1])],
    ))  # fmt: skip
    seen: Counter[int] = Counter()
    async with await Client.open(edge.port) as client:
        for _ in range(60):
            response = await client.request("GET", "/which")
            seen[response.json()["port"]] += 1
    assert seen == {upstreams[0]: 30, upstreams[1]: 20, upstreams[2]: 10}


@pytest.mark.asyncio(loop_scope="module")
async def test_a_drained_target_gets_no_traffic(edge: RunningEdge, upstreams: list[int]) -> None:
    edge.swap(gateway(
        [{"id": "r", "paths": ["/"], "upstream": "pool"}],
        [upstream_of("pool", upstreams, weights=[1, 0, 1])],
    ))  # fmt: skip
    seen: Counter[int] = Counter()
    async with await Client.open(edge.port) as client:
        for _ in range(20):
            seen[(await client.request("GET", "/")).json()["port"]] += 1
    assert seen == {upstreams[0]: 10, upstreams[2]: 10}



def test_least_connections_prefers_the_fewest_requests_in_flight_per_weight() -> None:
    board = HealthBoard("u")
    states = [TargetState(f"t{i}", board) for i in range(3)]
    picker = LeastConnections([1, 1, 2])
    for index, active in enumerate([3, 1, 3]):
        states[index].active = active
    assert picker.pick_among(states, lambda i: True) == 1  # 1/1 beats 3/1 and 3/2
    states[1].active = 2
    assert picker.pick_among(states, lambda i: True) == 2  # 3/2 beats 2/1
    assert picker.pick_among(states, lambda i: i != 2) == 1  # a target that is down is skipped


def test_least_connections_takes_turns_between_equal_targets() -> None:
    board = HealthBoard("u")
    states = [TargetState(f"t{i}", board) for i in range(3)]
    picker = LeastConnections([1, 1, 1])
    assert [picker.pick_among(states, lambda i: True) for _ in range(6)] == [0, 1, 2, 0, 1, 2]


@pytest.mark.asyncio(loop_scope="module")
async def test_least_connections_sends_new_requests_to_the_less_busy_process(
    edge: RunningEdge, healed: list[int]
) -> None:
    edge.swap(gateway(
        [{"id": "r", "paths": ["/"], "upstream": "pool"}],
        [upstream_of("pool", healed[:2], algorithm="least-connections")],
    ))  # fmt: skip
    slow = []
    for _ in range(3):  # A, then B (A is busy), then A again (a tie goes in turn)
        slow.append(asyncio.create_task(fetch(edge.port, "GET", "/__delay?ms=800")))
        await asyncio.sleep(0.05)
    quick = Counter([(await fetch(edge.port, "GET", "/quick")).json()["port"] for _ in range(5)])
    busy = Counter(response.json()["port"] for response in await asyncio.gather(*slow))
    assert sorted(busy.values()) == [1, 2]
    lighter = min(busy, key=lambda port: busy[port])
    assert quick == {lighter: 5}

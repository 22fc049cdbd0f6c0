"""Smooth weighted round robin: the sequence, the shares, drained targets, and the
distribution a real set of upstream processes sees through the edge."""

from __future__ import annotations

from collections import Counter

import pytest

from edgeway.edge.proxy.balancer import WeightedRoundRobin
from tests.edge.client import Client
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

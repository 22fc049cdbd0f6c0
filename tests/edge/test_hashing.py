"""Consistent hashing: the ring's spread and minimal remapping, and sticky targets through the
edge on a header, a cookie, the client ip and a path parameter."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from edgeway.edge.balancing.ring import HashRing, key_hash
from tests.edge.client import fetch
from tests.edge.conftest import RunningEdge, gateway, upstream_of

KEYS = [f"user-{n}" for n in range(20_000)]


def owners(ring: HashRing) -> list[int]:
    return [ring.lookup(key_hash(key)) for key in KEYS]


@pytest.mark.parametrize("count", [2, 4, 8])
def test_keys_spread_evenly_over_targets(count: int) -> None:
    ring = HashRing([f"10.0.0.{n}:80" for n in range(count)], [1] * count)
    shares = Counter(owners(ring))
    assert set(shares) == set(range(count))
    for share in shares.values():
        assert abs(share / len(KEYS) - 1 / count) < 0.35 / count  # within 35% of fair


@pytest.mark.parametrize("count", [3, 4, 9])
def test_adding_a_target_moves_about_one_in_n_plus_one_keys_and_only_to_it(count: int) -> None:
    addresses = [f"10.0.0.{n}:80" for n in range(count)]
    before = owners(HashRing(addresses, [1] * count))
    after = owners(HashRing([*addresses, "10.0.1.1:80"], [1] * (count + 1)))
    moved = [(old, new) for old, new in zip(before, after, strict=True) if old != new]
    assert all(new == count for _, new in moved)  # every moved key went to the new target
    share = len(moved) / len(KEYS)
    expected = 1 / (count + 1)
    assert abs(share - expected) < 0.3 * expected, (share, expected)


def test_weights_scale_a_targets_share() -> None:
    ring = HashRing(["a:1", "b:1"], [3, 1])
    shares = Counter(owners(ring))
    assert 0.65 < shares[0] / len(KEYS) < 0.85


def test_a_target_that_cannot_serve_hands_its_keys_to_the_next_points_only() -> None:
    ring = HashRing([f"10.0.0.{n}:80" for n in range(4)], [1] * 4)
    before = owners(ring)
    after = [ring.lookup(key_hash(key), lambda index: index != 2) for key in KEYS]
    assert all(new == old for old, new in zip(before, after, strict=True) if old != 2)
    assert 2 not in after
    assert ring.lookup(12345, lambda index: False) == -1


def hashed(ports: list[int], source: str, name: str = "", path: str = "/") -> dict[str, Any]:
    hash_on = {"source": source, **({"name": name} if name else {})}
    return gateway(
        [{"id": "r", "paths": [path], "upstream": "pool"}],
        [upstream_of("pool", ports, algorithm="consistent-hash", hash_on=hash_on)],
    )


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize(
    ("source", "name", "path", "request_for"),
    [
        ("header", "X-User", "/", lambda key: ("/x", [("X-User", key)])),
        ("cookie", "session", "/", lambda key: ("/x", [("Cookie", f"a=1; session={key}")])),
        ("path-param", "user", "/users/{user}", lambda key: (f"/users/{key}", [])),
    ],
    ids=["header", "cookie", "path-param"],
)
async def test_the_same_key_always_reaches_the_same_process_and_keys_spread(
    edge: RunningEdge, upstreams: list[int], source: str, name: str, path: str,
    request_for: Any,
) -> None:
    edge.swap(hashed(upstreams, source, name, path))
    first: dict[str, int] = {}
    for round_ in range(2):
        for n in range(24):
            target, headers = request_for(f"key-{n}")
            port = (await fetch(edge.port, "GET", target, headers=headers)).json()["port"]
            if round_ == 0:
                first[f"key-{n}"] = port
            else:
                assert port == first[f"key-{n}"]
    assert len(set(first.values())) == len(upstreams)  # 24 keys reach all 3 processes


@pytest.mark.asyncio(loop_scope="module")
async def test_hashing_on_the_client_ip_sticks_and_a_missing_key_falls_back_to_round_robin(
    edge: RunningEdge, upstreams: list[int]
) -> None:
    edge.swap(hashed(upstreams, "client-ip"))
    ports = {(await fetch(edge.port, "GET", "/x")).json()["port"] for _ in range(6)}
    assert len(ports) == 1
    edge.swap(hashed(upstreams, "header", "X-User"))
    ports = {(await fetch(edge.port, "GET", "/x")).json()["port"] for _ in range(6)}
    assert ports == set(upstreams)

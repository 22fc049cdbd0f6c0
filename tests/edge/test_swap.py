"""Config swaps: atomic under load, requests in flight finish on their version, pools kept,
per-version traffic counts; and graceful shutdown."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from edgeway.common.config.loading import config_from_dict
from edgeway.edge.compile import compile_config
from tests.edge.client import Client, fetch
from tests.edge.conftest import RunningEdge, gateway, upstream_of

pytestmark = pytest.mark.asyncio(loop_scope="module")


def version_config(ports: list[int], flavour: int) -> dict[str, Any]:
    """Two shapes of config to alternate between: different upstreams, routes and a mock."""
    routes: list[dict[str, Any]] = [
        {"id": f"api-{flavour}", "paths": ["/api"], "upstream": "u", "strip_path": flavour == 1},
        {"id": "status", "paths": ["/status"], "path_match": "exact",
         "mock": {"status": 200, "json": {"flavour": flavour}}},
    ]
    if flavour == 1:
        routes.append({"id": "extra", "paths": ["/extra/{id:int}"], "upstream": "u"})
    return gateway(routes, [upstream_of("u", ports[flavour:flavour + 2])])


async def test_twenty_swaps_under_concurrent_load_fail_no_request(
    edge: RunningEdge, upstreams: list[int]
) -> None:
    edge.swap(version_config(upstreams, 0))
    compiled = [compile_config(config_from_dict(version_config(upstreams, f))) for f in (0, 1)]
    swapping = True
    statuses: list[int] = []

    async def load() -> None:
        async with await Client.open(edge.port) as client:
            index = 0
            while swapping:
                target = "/status" if index % 3 == 2 else f"/api/{index}"
                statuses.append((await client.request("GET", target)).status)
                index += 1

    clients = [asyncio.create_task(load()) for _ in range(8)]
    await asyncio.sleep(0.05)
    for number in range(20):
        edge.proxy.swap(compiled[number % 2], version=1000 + number, config_hash=f"h{number}")
        await asyncio.sleep(0.03)
    swapping = False
    await asyncio.wait_for(asyncio.gather(*clients), 10)
    assert len(statuses) >= 40  # requests overlapped the swaps (typically several hundred)
    assert [s for s in statuses if not 200 <= s < 300] == []
    assert edge.proxy.current == (1019, "h19")


async def test_a_request_in_flight_finishes_on_the_version_it_started_with(
    edge: RunningEdge, upstream: int
) -> None:
    first = edge.swap(gateway([{"id": "old", "paths": ["/"], "upstream": "u"}],
                              [upstream_of("u", [upstream])]))
    slow = asyncio.create_task(fetch(edge.port, "GET", "/__delay?ms=300"))
    await asyncio.sleep(0.1)
    second = edge.swap({"routes": [{"id": "new", "paths": ["/"], "mock": {"body": "new"}}]})
    fresh = await fetch(edge.port, "GET", "/__delay?ms=300")
    old = await slow
    assert fresh.body == b"new"
    assert old.json()["path"] == "/__delay"
    lines = {line["request_id"]: line for line in await edge.log_lines()}
    assert lines[old.header("x-request-id")]["version"] == first
    assert lines[old.header("x-request-id")]["route"] == "old"
    assert lines[fresh.header("x-request-id")]["version"] == second


async def test_a_keep_alive_connection_takes_the_new_version_with_its_next_request(
    edge: RunningEdge,
) -> None:
    edge.swap({"routes": [{"id": "a", "paths": ["/"], "mock": {"body": "one"}}]})
    async with await Client.open(edge.port) as client:
        assert (await client.request("GET", "/")).body == b"one"
        edge.swap({"routes": [{"id": "b", "paths": ["/"], "mock": {"body": "two"}}]})
        assert (await client.request("GET", "/")).body == b"two"


async def test_warm_upstream_connections_survive_a_swap_that_keeps_the_target(
    edge: RunningEdge, upstreams: list[int]
) -> None:
    port = upstreams[1]
    config = gateway([{"id": "r", "paths": ["/"], "upstream": "u"}], [upstream_of("u", [port])])
    await fetch(port, "GET", "/__stats?reset=1", host="x")
    async with await Client.open(edge.port) as client:
        for number in range(5):
            edge.swap(config)
            assert (await client.request("GET", f"/{number}")).status == 200
    stats = (await fetch(port, "GET", "/__stats", host="x")).json()
    assert (stats["requests"], stats["peers"]) == (5, 1)


async def test_a_version_prepared_in_a_thread_installs_on_the_loop(
    edge: RunningEdge,
) -> None:
    compiled = compile_config(config_from_dict(
        {"routes": [{"id": "t", "paths": ["/"], "mock": {"body": "threaded"}}]}
    ))  # fmt: skip
    prepared = await asyncio.to_thread(edge.proxy.prepare, compiled, version=77,
                                       config_hash="threaded")
    assert edge.proxy.current != (77, "threaded")
    edge.proxy.install(prepared)
    assert edge.proxy.current == (77, "threaded")
    assert (await fetch(edge.port, "GET", "/")).body == b"threaded"


async def test_traffic_is_counted_per_version_with_5xx_as_errors(
    edge: RunningEdge, upstream: int
) -> None:
    assert edge.proxy.take_traffic() == []  # nothing installed yet
    one = edge.swap(gateway([{"id": "r", "paths": ["/"], "upstream": "u"}],
                            [upstream_of("u", [upstream])]))
    for target in ["/", "/__status/500", "/__status/503", "/__status/404"]:
        await fetch(edge.port, "GET", target)
    two = edge.swap({"routes": [{"id": "m", "paths": ["/m"], "mock": {"body": "x"}}]})
    await fetch(edge.port, "GET", "/m")
    await fetch(edge.port, "GET", "/nowhere")
    assert edge.proxy.take_traffic() == [(one, 4, 2), (two, 2, 0)]
    assert edge.proxy.take_traffic() == [(two, 0, 0)]


async def test_stop_lets_the_request_in_flight_finish_and_closes_idle_connections(
    edge: RunningEdge, upstream: int
) -> None:
    edge.swap(gateway([{"id": "r", "paths": ["/"], "upstream": "u"}],
                      [upstream_of("u", [upstream])]))
    idle = await Client.open(edge.port)
    assert (await idle.request("GET", "/")).status == 200
    busy = await Client.open(edge.port)
    await busy.send(b"GET /__delay?ms=300 HTTP/1.1\r\nHost: t\r\n\r\n")
    await asyncio.sleep(0.1)
    started = time.monotonic()
    stopping = asyncio.create_task(edge.proxy.stop(drain_timeout=5.0))
    assert await idle.closed_by_server(within=1.0)
    response = await busy.response()
    assert response.status == 200
    assert response.header("connection") == "close"
    await stopping
    assert time.monotonic() - started < 2.0
    with pytest.raises(ConnectionRefusedError):
        await Client.open(edge.port)
    await idle.close()
    await busy.close()


async def test_stop_aborts_what_outlives_the_drain_timeout(
    edge: RunningEdge, upstream: int
) -> None:
    edge.swap(gateway([{"id": "r", "paths": ["/"], "upstream": "u"}],
                      [upstream_of("u", [upstream])]))
    busy = await Client.open(edge.port)
    await busy.send(b"GET /__delay?ms=5000 HTTP/1.1\r\nHost: t\r\n\r\n")
    await asyncio.sleep(0.1)
    started = time.monotonic()
    await edge.proxy.stop(drain_timeout=0.3)
    assert time.monotonic() - started < 1.5
    assert await busy.closed_by_server(within=1.0)
    await busy.close()

"""Two control-plane replicas on one etcd: spread edges, deploys reach all, a crash is survived."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from edgeway.controlplane.discovery import list_nodes
from edgeway.controlplane.etcd_server import EmbeddedEtcd
from edgeway.controlplane.store import EtcdStore
from tests.discovery.conftest import StartEdge, StartReplica
from tests.discovery.helpers import eventually, good_config

LEASE_TTL = 2


async def _nodes(store: EtcdStore) -> dict[str, dict[str, object]]:
    return {str(n["node_id"]): n for n in await list_nodes(store)}


async def test_a_deploy_reaches_the_edges_of_both_replicas(
    store: EtcdStore, start_replica: StartReplica, start_edge: StartEdge
) -> None:
    await store.create_version(good_config(1), author="t", message="m")
    await store.create_version(good_config(2), author="t", message="m")
    await store.deploy("prod", 1, author="t", message="m")
    a, b = await start_replica(), await start_replica()
    edges = [await start_edge(f"edge-{i}", "prod", [(a, b)[i % 2].address, (b, a)[i % 2].address],
                              region=("eu", "us")[i // 2]) for i in range(4)]
    await eventually(lambda: all(e.running[1] == 1 for e in edges), what="version 1 everywhere")
    await store.deploy("prod", 2, author="t", message="m")
    await eventually(lambda: all(e.running[1] == 2 for e in edges), what="version 2 everywhere")

    async def all_in_sync() -> bool:
        nodes = await _nodes(store)
        return len(nodes) == 4 and all(n["status"] == "in-sync" for n in nodes.values())

    await eventually(all_in_sync, what="registry in sync")
    nodes = await _nodes(store)
    assert {n["replica"] for n in nodes.values()} == {a.address, b.address}
    assert [len(e.pushes) for e in edges] == [2, 2, 2, 2]
    assert [n["node_id"] for n in await list_nodes(store)] == [
        "edge-0", "edge-1", "edge-2", "edge-3"]  # sorted by stage, region, node id


@pytest.fixture
async def process_replica(
    etcd_server: EmbeddedEtcd, etcd_prefix: str, tmp_path: Path
) -> AsyncIterator[tuple[str, asyncio.subprocess.Process]]:
    """A replica in its own process (so it can die for real), with a short lease TTL."""
    log = (tmp_path / "replica.log").open("wb")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.discovery.replica_main", etcd_server.endpoint, etcd_prefix,
        str(LEASE_TTL), stdout=asyncio.subprocess.PIPE, stderr=log,
        cwd=Path(__file__).parents[2])
    try:
        assert process.stdout is not None
        async with asyncio.timeout(20):
            line = await process.stdout.readline()
        assert line.startswith(b"PORT "), (tmp_path / "replica.log").read_text()
        yield f"127.0.0.1:{int(line.split()[1])}", process
    finally:
        if process.returncode is None:
            process.kill()
        with contextlib.suppress(ProcessLookupError):
            await process.wait()
        log.close()


async def test_when_a_replica_dies_its_edges_reconnect_elsewhere_without_a_push_and_the_rest_expire(
    store: EtcdStore, start_replica: StartReplica, start_edge: StartEdge,
    process_replica: tuple[str, asyncio.subprocess.Process],
) -> None:
    doomed, process = process_replica
    await store.create_version(good_config(1), author="t", message="m")
    await store.deploy("dev", 1, author="t", message="m")
    survivor = await start_replica()
    moving = await start_edge("moving", "dev", [doomed, survivor.address])
    stranded = await start_edge("stranded", "dev", [doomed])
    await eventually(lambda: moving.running[1] == 1 and stranded.running[1] == 1,
                     what="both edges on version 1")

    async def both_registered_on_the_doomed_replica() -> bool:
        nodes = await _nodes(store)
        return len(nodes) == 2 and all(n["replica"] == doomed and n["status"] == "in-sync"
                                       for n in nodes.values())

    await eventually(both_registered_on_the_doomed_replica, what="registered")

    process.send_signal(signal.SIGKILL)  # no goodbye: no Reconnect, no lease revoke
    killed = time.monotonic()
    assert moving.client is not None
    reconnected = await eventually(lambda: moving.client is not None
                                   and moving.client.replica == survivor.address,
                                   what="reconnected to the survivor")

    async def moved() -> bool:
        node = (await _nodes(store)).get("moving")
        return node is not None and node["replica"] == survivor.address \
            and node["status"] == "in-sync"

    await eventually(moved, what="record moved to the survivor")

    async def stranded_gone() -> bool:
        return "stranded" not in await _nodes(store)

    await eventually(stranded_gone, within=LEASE_TTL + 5, what="lease expiry")
    expired = time.monotonic() - killed
    print(f"\nreconnected to the other replica after {reconnected:.2f}s; "
          f"stranded edge's record expired {expired:.2f}s after the kill (TTL {LEASE_TTL}s); "
          f"pushes: moving={len(moving.pushes)} stranded={len(stranded.pushes)}")
    assert len(moving.pushes) == 1  # the resumed stream cost nothing
    assert moving.running[1] == 1
    assert stranded.running[1] == 1
    assert expired <= LEASE_TTL + 3
    assert "moving" in await _nodes(store)


async def test_a_replica_that_stops_asks_its_edges_to_reconnect_and_leaves_the_registry(
    store: EtcdStore, start_replica: StartReplica, start_edge: StartEdge,
    etcd_server: EmbeddedEtcd, etcd_prefix: str,
) -> None:
    from edgeway.controlplane.discovery import serve_discovery
    from tests.discovery.conftest import FAST

    await store.create_version(good_config(1), author="t", message="m")
    await store.deploy("dev", 1, author="t", message="m")
    survivor = await start_replica()
    own_store = await EtcdStore.connect([etcd_server.endpoint], prefix=etcd_prefix)
    try:
        async with serve_discovery(own_store, listen=("127.0.0.1", 0), settings=FAST) as leaving:
            edge = await start_edge("edge-1", "dev", [leaving.address, survivor.address])
            await eventually(lambda: edge.running[1] == 1, what="version 1")
            assert edge.client is not None
            assert edge.client.replica == leaving.address
            started = time.monotonic()
        took = time.monotonic() - started
    finally:
        await own_store.close()
    await eventually(lambda: edge.client is not None and edge.client.replica == survivor.address,
                     what="moved to the survivor")

    async def registered_on_survivor() -> bool:
        node = (await _nodes(store)).get("edge-1")
        return node is not None and node["replica"] == survivor.address
    await eventually(registered_on_survivor, what="registry follows")
    print(f"\ngraceful stop took {took:.2f}s")
    assert took < FAST.grace + 1.5
    assert len(edge.pushes) == 1


async def test_an_edge_cut_off_from_its_replica_without_a_reset_moves_to_the_other(
    store: EtcdStore, start_replica: StartReplica, start_edge: StartEdge
) -> None:
    from tests.store.tcpproxy import TcpProxy

    await store.create_version(good_config(1), author="t", message="m")
    await store.deploy("dev", 1, author="t", message="m")
    first, second = await start_replica(), await start_replica()
    async with TcpProxy(first.address) as proxy:
        edge = await start_edge("edge-1", "dev", [proxy.endpoint, second.address],
                                client_options={"keepalive": 1.0})
        await eventually(lambda: edge.running[1] == 1, what="version 1")
        assert edge.client is not None
        assert edge.client.replica == first.address
        await proxy.freeze()  # a network partition: nothing arrives, nothing is reset
        took = await eventually(lambda: edge.client is not None
                                and edge.client.replica == second.address, what="moved")
    print(f"\nsilent control plane left after {took:.2f}s (keepalive 1 s)")
    assert len(edge.pushes) == 1

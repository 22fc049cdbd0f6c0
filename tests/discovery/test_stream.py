"""One replica, real gRPC on loopback, real etcd: Hello, push, Ack/Nack, registry, coalescing."""

from __future__ import annotations

import asyncio

import pytest

from edgeway.controlplane.discovery import list_nodes
from edgeway.controlplane.store import EtcdStore
from tests.discovery.conftest import StartEdge, StartReplica
from tests.discovery.helpers import bad_config, eventually, good_config, rendered_hash


async def _node(store: EtcdStore, node_id: str) -> dict[str, object] | None:
    return next((n for n in await list_nodes(store) if n["node_id"] == node_id), None)


async def _status(store: EtcdStore, node_id: str, status: str) -> bool:
    node = await _node(store, node_id)
    return node is not None and node["status"] == status


async def test_an_edge_already_running_the_stages_hash_gets_no_push(
    store: EtcdStore, start_replica: StartReplica, start_edge: StartEdge
) -> None:
    config = good_config(1)
    await store.create_version(config, author="t", message="m")
    await store.deploy("dev", 1, author="t", message="m")
    replica = await start_replica()
    edge = await start_edge("edge-1", "dev", [replica.address],
                            running=(rendered_hash(config, "dev"), 1))
    await eventually(lambda: _status(store, "edge-1", "in-sync"), what="in-sync")
    await asyncio.sleep(0.3)  # time for a push that must not come
    assert edge.pushes == []
    node = await _node(store, "edge-1")
    assert node is not None
    assert (node["version"], node["desired_version"], node["replica"]) == (1, 1, replica.address)


async def test_an_edge_with_an_old_hash_gets_one_push_and_its_ack_is_recorded(
    store: EtcdStore, start_replica: StartReplica, start_edge: StartEdge
) -> None:
    await store.create_version(good_config(1), author="t", message="m")
    await store.deploy("prod", 1, author="t", message="m")
    replica = await start_replica()
    edge = await start_edge("edge-1", "prod", [replica.address], running=("sha256:old", 7))
    await eventually(lambda: _status(store, "edge-1", "in-sync"), what="in-sync")
    assert len(edge.pushes) == 1
    push = edge.pushes[0]
    assert (push.stage, push.version) == ("prod", 1)
    assert push.hash == rendered_hash(good_config(1), "prod")
    assert list(push.config.routes[0].hosts) == ["prod.example.com"]  # rendered for the stage
    node = await _node(store, "edge-1")
    assert node is not None
    assert (node["version"], node["hash"], node["nack"]) == (1, push.hash, None)
    assert node["last_ack"] is not None
    assert node["region"] == "eu-west"


async def test_a_nacked_config_is_recorded_and_never_resent_even_after_a_reconnect(
    store: EtcdStore, start_replica: StartReplica, start_edge: StartEdge
) -> None:
    await store.create_version(good_config(1), author="t", message="m")
    await store.create_version(bad_config(), author="t", message="broken")
    await store.create_version(good_config(3), author="t", message="fixed")
    await store.deploy("dev", 1, author="t", message="m")
    replica = await start_replica()
    edge = await start_edge("edge-1", "dev", [replica.address])
    await eventually(lambda: _status(store, "edge-1", "in-sync"), what="first config")
    await store.deploy("dev", 2, author="t", message="m")
    await eventually(lambda: _status(store, "edge-1", "nacked"), what="nacked")
    node = await _node(store, "edge-1")
    assert node is not None
    assert node["version"] == 1
    assert edge.running[1] == 1
    assert node["nack_version"] == 2
    assert "nowhere" in str(node["nack"])
    assert node["nack_hash"] == rendered_hash(bad_config(), "dev")
    assert edge.client is not None
    assert edge.client.rejected == 1

    # Reconnect (a fresh client, as after an edge restart): the NACKed hash is not sent again.
    await edge.client.stop()
    again = await start_edge("edge-1", "dev", [replica.address], running=edge.running)
    await eventually(lambda: again.client is not None and again.client.connections == 1,
                     what="reconnected")
    await asyncio.sleep(0.3)
    assert again.pushes == []
    assert len(edge.pushes) == 2
    assert await _status(store, "edge-1", "nacked")

    await store.deploy("dev", 3, author="t", message="m")
    await eventually(lambda: _status(store, "edge-1", "in-sync"), what="fixed config")
    assert [p.version for p in again.pushes] == [3]
    node = await _node(store, "edge-1")
    assert node is not None
    assert node["nack"] is None
    assert node["version"] == 3


@pytest.mark.parametrize("spacing", [0.0, 0.03], ids=["back-to-back", "every-30ms"])
async def test_a_burst_of_50_deploys_makes_a_handful_of_pushes_ending_on_the_newest(
    store: EtcdStore, start_replica: StartReplica, start_edge: StartEdge, spacing: float
) -> None:
    for n in range(1, 51):
        await store.create_version(good_config(n), author="t", message=str(n))
    await store.deploy("dev", 1, author="t", message="m")
    replica = await start_replica()
    edges = [await start_edge(f"edge-{i}", "dev", [replica.address], apply_delay=0.1)
             for i in range(3)]
    await eventually(lambda: all(e.running[1] == 1 for e in edges), what="version 1")
    for n in range(2, 51):
        await store.deploy("dev", n, author="t", message="burst")
        await asyncio.sleep(spacing)
    await eventually(lambda: all(e.running[1] == 50 for e in edges), what="version 50")
    await asyncio.sleep(0.3)  # nothing more may come
    counts = [len(e.pushes) - 1 for e in edges]
    print(f"\npushes per edge for 49 deploys {spacing * 1000:g} ms apart: {counts}; "
          f"stage publications: {replica.hub.publications}; "
          f"payloads built: {replica.hub.cache.builds}")
    for edge in edges:
        versions = [p.version for p in edge.pushes]
        assert versions == sorted(versions), "an older version was sent after a newer one"
        assert edge.running[1] == 50
        assert versions[-1] == 50
    assert max(counts) <= 10
    assert replica.hub.cache.builds <= replica.hub.publications  # one build per version


async def test_an_edge_of_a_stage_without_a_version_gets_nothing_until_a_deploy(
    store: EtcdStore, start_replica: StartReplica, start_edge: StartEdge
) -> None:
    await store.create_stage("empty", author="t")
    replica = await start_replica()
    edge = await start_edge("edge-1", "empty", [replica.address], running=("sha256:mine", 4))
    unknown = await start_edge("edge-2", "nosuchstage", [replica.address])
    await eventually(lambda: _status(store, "edge-1", "no-config"), what="no-config")
    await eventually(lambda: _status(store, "edge-2", "no-config"), what="no-config")
    assert edge.pushes == []
    assert unknown.pushes == []
    node = await _node(store, "edge-1")
    assert node is not None
    assert (node["hash"], node["version"]) == ("sha256:mine", 4)
    await store.create_version(good_config(1), author="t", message="m")
    await store.deploy("empty", 1, author="t", message="m")
    await eventually(lambda: _status(store, "edge-1", "in-sync"), what="deployed")
    assert [p.version for p in edge.pushes] == [1]
    assert unknown.pushes == []


async def test_a_disconnected_edge_leaves_the_registry(
    store: EtcdStore, start_replica: StartReplica, start_edge: StartEdge
) -> None:
    replica = await start_replica()
    edge = await start_edge("edge-1", "dev", [replica.address])
    await _node_eventually(store, "edge-1")
    assert edge.client is not None
    await edge.client.stop()
    await eventually(lambda: _gone(store, "edge-1"), within=5, what="record deleted")


async def _gone(store: EtcdStore, node_id: str) -> bool:
    return await _node(store, node_id) is None


async def test_heartbeats_report_traffic_per_version_and_keep_the_edge_seen(
    store: EtcdStore, start_replica: StartReplica, start_edge: StartEdge
) -> None:
    replica = await start_replica()
    await start_edge("edge-1", "dev", [replica.address], running=("sha256:x", 4),
                     client_options={"traffic": lambda: [(4, 10, 1)], "heartbeat_interval": 0.1})
    first = await _node_eventually(store, "edge-1")

    async def counted() -> bool:
        node = await _node(store, "edge-1")
        traffic = node["traffic"] if node else {}
        return isinstance(traffic, dict) and traffic.get("4", {}).get("requests", 0) >= 30

    await eventually(counted, what="traffic counted")
    node = await _node(store, "edge-1")
    assert node is not None
    assert str(node["last_seen"]) > str(first["last_seen"])
    traffic = node["traffic"]
    assert isinstance(traffic, dict)
    assert traffic["4"]["errors"] * 10 == traffic["4"]["requests"]


async def _node_eventually(store: EtcdStore, node_id: str) -> dict[str, object]:
    found: list[dict[str, object]] = []

    async def present() -> bool:
        node = await _node(store, node_id)
        if node is not None:
            found.append(node)
        return node is not None

    await eventually(present, what=f"{node_id} registered")
    return found[-1]

"""What operators see: GET /v1/nodes through the admin app, and the ``edgeway status`` table."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient, TestServer

from edgeway.common.errors import ConfigInvalid
from edgeway.controlplane.admin import build_admin_app
from edgeway.controlplane.discovery import admin as discovery_admin
from edgeway.controlplane.discovery import render_status
from edgeway.controlplane.operations import Operations
from edgeway.controlplane.store import EtcdStore
from edgeway.edge.compile import compile_config
from tests.discovery.conftest import StartEdge, StartReplica
from tests.discovery.helpers import bad_config, eventually, good_config


async def test_get_nodes_lists_connected_edges_with_their_status(
    store: EtcdStore, start_replica: StartReplica, start_edge: StartEdge
) -> None:
    await store.create_version(good_config(1), author="t", message="m")
    await store.deploy("dev", 1, author="t", message="m")
    replica = await start_replica()
    await start_edge("edge-b", "dev", [replica.address], region="us")
    await start_edge("edge-a", "dev", [replica.address], region="us")
    app = build_admin_app(Operations(store))
    if "list_nodes" not in app.router.named_resources():  # the admin app may wire it already
        app.router.add_routes(discovery_admin.routes)
    async with TestClient(TestServer(app)) as client:

        async def both_in_sync() -> bool:
            response = await client.get("/v1/nodes")
            nodes = (await response.json())["nodes"]
            return len(nodes) == 2 and all(n["status"] == "in-sync" for n in nodes)

        await eventually(both_in_sync, what="both in sync")
        response = await client.get("/v1/nodes")
        assert response.status == 200
        nodes = (await response.json())["nodes"]
        assert [n["node_id"] for n in nodes] == ["edge-a", "edge-b"]
        assert set(nodes[0]) >= {"node_id", "region", "stage", "version", "hash",
                                         "status", "desired_version", "last_ack", "nack",
                                         "replica", "connected_at", "last_seen", "build"}
        assert (nodes[0]["stage"], nodes[0]["version"], nodes[0]["replica"]) == (
            "dev", 1, replica.address)
        other = await client.get("/v1/nodes", params={"stage": "prod"})
        assert (await other.json()) == {"nodes": []}


def test_the_status_table_groups_by_stage_and_region_and_shows_lag_and_nacks() -> None:
    def node(node_id: str, stage: str, region: str, version: int | None, status: str,
             **extra: object) -> dict[str, object]:
        return {"node_id": node_id, "stage": stage, "region": region, "version": version,
                "status": status, "build": "1.0", "replica": "cp-1:9090",
                "last_ack": "2025-01-31T12:00:00.250Z", "last_seen": "2025-01-31T12:00:05.000Z",
                "nack": None, **extra}

    nodes = [
        node("e1", "prod", "eu", 7, "in-sync"),
        node("e2", "prod", "eu", 6, "nacked", nack_version=7,
             nack="config is invalid (1 error)\n  - routes[0]: bad"),
        node("e3", "prod", "us", 7, "in-sync"),
        node("e4", "dev", "eu", None, "pending"),
    ]
    stages: list[dict[str, object]] = [
        {"name": "prod", "version": 7, "hash": "sha256:abcdef0123456789"},
        {"name": "dev", "version": 3, "hash": "sha256:0123"},
        {"name": "staging", "version": None}]
    text = render_status(nodes, stages)
    print("\n" + text)
    blocks = text.split("\n\n")
    assert [b.splitlines()[0].split(":")[0] for b in blocks] == [
        "stage dev", "stage prod", "stage staging"]
    prod = blocks[1]
    assert "version 7 (abcdef012345)" in prod
    assert "3 edges: 2 in-sync, 1 nacked" in prod
    assert prod.index("region eu") < prod.index("e1") < prod.index("e2") < prod.index("region us")
    e2 = next(line for line in prod.splitlines() if line.strip().startswith("e2"))
    assert "behind (v6 -> v7)" in e2
    assert "nacked" in e2
    assert "NACK v7: config is invalid (1 error)" in prod
    assert "routes[0]: bad" in prod
    e1 = next(line for line in prod.splitlines() if line.strip().startswith("e1"))
    assert "behind" not in e1
    assert "behind (v- -> v3)" in blocks[0]
    assert blocks[2] == "stage staging: no version — 0 edges"
    assert render_status([], []) == "no stages and no connected edges"


def test_a_stage_unknown_to_the_store_is_still_shown() -> None:
    text = render_status([{"node_id": "x", "stage": "ghost", "region": "eu", "version": None,
                           "status": "no-config"}], [])
    assert text.startswith("stage ghost (unknown stage)")
    assert "no-config" in text


def test_the_bad_config_of_these_tests_does_not_compile() -> None:
    with pytest.raises(ConfigInvalid, match="nowhere"):
        compile_config(bad_config())

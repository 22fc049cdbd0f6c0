"""A config an edge cannot compile is NACKed and visible; two replicas serve one fleet."""

from __future__ import annotations

import asyncio
from pathlib import Path

from edgeway.common.config.loading import parse_config_text
from edgeway.controlplane.etcd_server import EmbeddedEtcd
from edgeway.controlplane.store import EtcdStore
from tests.e2e.conftest import Upstreams, apply_and_deploy, config
from tests.support.controlplane import ControlPlane, start_control_plane
from tests.support.fleet import start_edge
from tests.support.http import call
from tests.support.processes import run_cli
from tests.support.wait import wait_until

# Valid protobuf, but it does not compile: the route names an upstream that does not exist.
UNCOMPILABLE = """\
upstreams:
  - name: users
    targets: [{address: "127.0.0.1:9"}]
routes:
  - id: broken
    paths: ["/broken"]
    upstream: nowhere
"""


async def deploy_unvalidated(cp: ControlPlane, stage: str) -> int:
    """Write a version the way an older or foreign control plane might: no validation."""
    async with await EtcdStore.connect([cp.etcd_endpoint], prefix=cp.prefix) as store:
        result = await store.create_version(parse_config_text(UNCOMPILABLE), author="test",
                                            message="bypasses validation")
        await store.deploy(stage, result.version.number, author="test", message="bad")
        return result.version.number


def test_an_uncompilable_config_is_nacked_and_the_edge_keeps_serving(
        cp: ControlPlane, upstreams: Upstreams, folder: Path) -> None:
    edge = start_edge([cp.grpc], "nacky", folder, node_id="nacky-1")
    try:
        good = apply_and_deploy(cp, config(upstreams.blue, mock_body="good"), "nacky")
        edge.wait_version(good)
        bad = asyncio.run(deploy_unvalidated(cp, "nacky"))

        def nacked() -> dict[str, object] | None:
            nodes = call("GET", f"{cp.url}/v1/nodes?stage=nacky").body["nodes"]
            return nodes[0] if nodes and nodes[0]["status"] == "nacked" else None

        node = wait_until(nacked, what="NACK recorded")
        assert node is not None
        assert "nowhere" in str(node["nack"])
        assert edge.config()["version"] == good
        assert edge.get("/status").body == "good"
        status = run_cli("status", "--stage", "nacky", env={"EDGEWAY_ADMIN_URL": cp.url})
        assert status.returncode == 0, status.stderr
        assert "nacky-1" in status.stdout
        assert "nowhere" in status.stdout
        assert bad > good

        fixed = apply_and_deploy(cp, config(upstreams.green, mock_body="fixed"), "nacky")
        edge.wait_version(fixed)
        assert edge.get("/status").body == "fixed"
    finally:
        edge.stop()


def test_two_replicas_share_the_fleet_and_a_deploy_reaches_every_edge(
        cp: ControlPlane, upstreams: Upstreams, folder: Path, etcd_server: EmbeddedEtcd) -> None:
    second = start_control_plane(etcd_server, folder, prefix=cp.prefix)
    edges = [start_edge([cp.grpc], "pair", folder, node_id="pair-a"),
             start_edge([second.grpc], "pair", folder, node_id="pair-b")]
    try:
        version = apply_and_deploy(cp, config(upstreams.blue, mock_body="pair"), "pair")
        for edge in edges:
            edge.wait_version(version)
            assert edge.get("/status").body == "pair"

        def both_listed() -> list[dict[str, object]]:
            nodes = call("GET", f"{second.url}/v1/nodes?stage=pair").body["nodes"]
            return nodes if len(nodes) == 2 else []

        replicas = {str(n["replica"]) for n in wait_until(both_listed, what="two nodes")}
        assert len(replicas) == 2
    finally:
        for edge in edges:
            edge.stop()
        second.process.stop()

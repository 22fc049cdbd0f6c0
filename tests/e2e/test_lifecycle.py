"""apply → deploy → traffic through real edges; promote, rollback; the control plane away."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.conftest import Upstreams, apply_and_deploy, config
from tests.support.controlplane import ControlPlane
from tests.support.fleet import start_edge
from tests.support.http import call
from tests.support.wait import wait_until


def served_by(answer_body: object) -> object:
    assert isinstance(answer_body, dict), answer_body
    return answer_body.get("served_by")


def test_deploy_promote_and_rollback_change_what_the_edges_serve(
        cp: ControlPlane, upstreams: Upstreams, folder: Path) -> None:
    dev = start_edge([cp.grpc], "life-dev", folder)
    prod = start_edge([cp.grpc], "life-prod", folder)
    try:
        blue = apply_and_deploy(cp, config(upstreams.blue), "life-dev")
        dev.wait_version(blue)
        answer = dev.get("/users")
        assert answer.status == 200
        assert served_by(answer.body) == "blue"
        assert answer.headers.get("x-request-id")
        assert dev.get("/nothing-here").status == 404

        call("POST", f"{cp.url}/v1/stages/life-prod/promote", json_body={"from": "life-dev"})
        prod.wait_version(blue)
        green = apply_and_deploy(cp, config(upstreams.green, extra_route="orders"), "life-dev")
        dev.wait_version(green)
        assert served_by(dev.get("/users").body) == "green"
        assert dev.get("/orders").body == "orders"
        assert prod.get("/orders").status == 404  # prod still runs blue
        assert prod.get("/orders").body["code"] == "route_not_found"

        call("POST", f"{cp.url}/v1/stages/life-prod/promote", json_body={"from": "life-dev"})
        prod.wait_version(green)
        assert served_by(prod.get("/users").body) == "green"
        assert prod.get("/orders").body == "orders"

        rolled = call("POST", f"{cp.url}/v1/stages/life-prod/rollback", json_body={})
        assert rolled.status == 200
        prod.wait_version(blue)
        assert served_by(prod.get("/users").body) == "blue"
        assert prod.get("/orders").status == 404
    finally:
        dev.stop()
        prod.stop()


def test_edges_serve_on_while_the_control_plane_is_down_and_resync_without_a_push(
        cp: ControlPlane, upstreams: Upstreams, folder: Path) -> None:
    edge = start_edge([cp.grpc], "away", folder, node_id="away-1")
    try:
        version = apply_and_deploy(cp, config(upstreams.blue, mock_body="before"), "away")
        edge.wait_version(version)
        assert edge.config()["source"] == "control-plane"

        cp.process.stop()
        assert edge.get("/status").body == "before"
        assert served_by(edge.get("/users").body) == "blue"

        edge.stop()  # restart the edge while the control plane is still down
        edge.start()
        state = edge.wait_version(version)
        assert state["source"] == "disk-cache"
        assert edge.get("/status").body == "before"
        assert call("GET", edge.admin_url + "/readyz").status == 200

        cp.process.start()

        def in_sync() -> list[dict[str, object]]:
            nodes = call("GET", f"{cp.url}/v1/nodes?stage=away").body["nodes"]
            return nodes if nodes and nodes[0]["status"] == "in-sync" else []

        nodes = wait_until(in_sync, what="edge back in sync")
        assert nodes[0]["node_id"] == "away-1"
        assert nodes[0]["status"] == "in-sync", nodes
        # Nothing changed, so nothing was pushed: the edge still runs the config it loaded
        # from its disk cache.
        assert edge.config()["source"] == "disk-cache"
    finally:
        edge.stop()
        if cp.process.process is None:
            cp.process.start()

"""``edgeway edge --workers 2``: one discovery stream for the node, both workers serve every
deploy, a NACK keeps both on the previous config, a dead worker is started again."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path
from typing import Any

from tests.e2e.conftest import Upstreams, apply_and_deploy, config
from tests.e2e.test_nack_and_replicas import deploy_unvalidated
from tests.support.controlplane import ControlPlane
from tests.support.fleet import Edge, start_edge
from tests.support.http import call
from tests.support.wait import wait_until


def connections_to(port: int, pid: int) -> int:
    """Established TCP connections of process ``pid`` to local port ``port`` (from /proc)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            remote_port = int(fields[2].rsplit(":", 1)[1], 16)
            if fields[3] == "01" and remote_port == port and fields[9] in inodes:
                count += 1
    return count


def served_by_pid(edge: Edge, log_path: Path, path: str, count: int = 30) -> dict[str, Any]:
    """``count`` requests on fresh connections; the body each worker (by pid, from the access
    log's ``pid`` field, matched on the request id) answered."""
    bodies: dict[str, Any] = {}
    for _ in range(count):
        answer = edge.get(path)
        assert answer.status == 200, answer.body
        bodies[answer.headers["x-request-id"]] = answer.body

    def logged() -> dict[str, Any]:
        found: dict[str, Any] = {}
        for line in log_path.read_text(errors="replace").splitlines():
            if line.startswith('{"ts"'):
                entry = json.loads(line)
                if entry["request_id"] in bodies:
                    found[entry["request_id"]] = entry["pid"]
        return found if len(found) == len(bodies) else {}

    pids = wait_until(logged, timeout=5, what="access-log lines of every request")
    return {pid: bodies[request_id] for request_id, pid in pids.items()}


def test_two_workers_share_one_discovery_stream_and_serve_every_deploy(
        cp: ControlPlane, upstreams: Upstreams, folder: Path) -> None:
    edge = start_edge([cp.grpc], "workers", folder, node_id="workers-1",
                      extra=("--workers", "2", "--access-log"))
    log_path = edge.process.log_path
    try:
        first = apply_and_deploy(cp, config(upstreams.blue, mock_body="one"), "workers")
        state = edge.wait_version(first)
        pids = [worker["pid"] for worker in state["workers"]]
        assert len(set(pids)) == 2
        assert all(worker["version"] == first for worker in state["workers"])

        nodes = call("GET", f"{cp.url}/v1/nodes?stage=workers").body["nodes"]
        assert [node["node_id"] for node in nodes] == ["workers-1"]
        grpc_port = int(cp.grpc.rsplit(":", 1)[1])
        supervisor = edge.process.process
        assert supervisor is not None
        assert connections_to(grpc_port, supervisor.pid) == 1
        assert [connections_to(grpc_port, pid) for pid in pids] == [0, 0]

        by_pid = served_by_pid(edge, log_path, "/status")
        assert sorted(int(pid) for pid in by_pid) == sorted(pids)
        assert set(by_pid.values()) == {"one"}

        second = apply_and_deploy(cp, config(upstreams.blue, mock_body="two"), "workers")
        edge.wait_version(second)
        by_pid = served_by_pid(edge, log_path, "/status")
        assert len(by_pid) == 2
        assert set(by_pid.values()) == {"two"}

        asyncio.run(deploy_unvalidated(cp, "workers"))
        node = wait_until(lambda: _nacked(cp), what="the NACK of the bad version")
        assert node is not None
        assert "nowhere" in str(node["nack"])  # the worker's compile error, passed on
        assert edge.config()["version"] == second
        assert set(served_by_pid(edge, log_path, "/status").values()) == {"two"}
    finally:
        edge.stop()


def _nacked(cp: ControlPlane) -> dict[str, Any] | None:
    nodes = call("GET", f"{cp.url}/v1/nodes?stage=workers").body["nodes"]
    return nodes[0] if nodes and nodes[0]["status"] == "nacked" else None


def test_a_worker_that_dies_is_started_again_with_the_current_config(
        cp: ControlPlane, upstreams: Upstreams, folder: Path) -> None:
    edge = start_edge([cp.grpc], "respawn", folder, node_id="respawn-1",
                      extra=("--workers", "2"))
    try:
        version = apply_and_deploy(cp, config(upstreams.blue, mock_body="alive"), "respawn")
        before = edge.wait_version(version)["workers"]
        os.kill(before[0]["pid"], signal.SIGKILL)

        def respawned() -> list[dict[str, Any]]:
            workers: list[dict[str, Any]] = edge.config()["workers"]
            return workers if workers[0]["pid"] != before[0]["pid"] and workers[0]["live"] \
                else []

        after = wait_until(respawned, timeout=15, what="the dead worker started again")
        # a relaunch that fails (under load, a worker too slow to install the config) is
        # counted and retried; the supervisor's log says why
        assert after[0]["restarts"] >= 1, edge.process.log_tail()
        assert after[0]["version"] == version, edge.process.log_tail()
        assert after[1]["pid"] == before[1]["pid"]
        for _ in range(10):
            assert edge.get("/status").body == "alive"
    finally:
        edge.stop()

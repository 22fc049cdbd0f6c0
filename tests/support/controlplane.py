"""Fixture: a real ``edgeway controlplane`` process per test module, on its own etcd prefix.

Registered as a pytest plugin by tests/conftest.py, so every test folder can use it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from edgeway.controlplane.etcd_server import EmbeddedEtcd
from tests.support.etcdkeys import snapshot
from tests.support.processes import EdgewayProcess, free_port


@dataclass
class ControlPlane:
    url: str
    grpc: str
    prefix: str
    etcd_endpoint: str
    process: EdgewayProcess

    def keys(self) -> dict[bytes, bytes]:
        return snapshot(self.etcd_endpoint, self.prefix)

    def restart(self) -> None:
        self.process.stop()
        self.process.start()


def start_control_plane(etcd: EmbeddedEtcd, log_dir: Path, *extra: str,
                        env: dict[str, str] | None = None,
                        prefix: str | None = None) -> ControlPlane:
    """Start ``edgeway controlplane`` on a fresh key prefix (or the given one: a replica)."""
    prefix = prefix or f"/edgeway-test/{uuid.uuid4().hex}"
    port, grpc_port = free_port(), free_port()
    process = EdgewayProcess(
        ["controlplane", "--etcd", etcd.endpoint, "--prefix", prefix,
         "--admin-listen", f"127.0.0.1:{port}", "--grpc-listen", f"127.0.0.1:{grpc_port}",
         *extra],
        log_path=log_dir / f"controlplane-{port}.log",
        health_url=f"http://127.0.0.1:{port}/healthz", env=env or {})
    process.start()
    return ControlPlane(f"http://127.0.0.1:{port}", f"127.0.0.1:{grpc_port}", prefix,
                        etcd.endpoint, process)


@pytest.fixture(scope="module")
def control_plane(etcd_server: EmbeddedEtcd,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    cp = start_control_plane(etcd_server, tmp_path_factory.mktemp("cp"))
    yield cp
    cp.process.stop()

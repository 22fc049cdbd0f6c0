"""A control plane, two demo upstreams ("blue" and "green") and helpers to write configs."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from edgeway.controlplane.etcd_server import EmbeddedEtcd
from tests.support.controlplane import ControlPlane, start_control_plane
from tests.support.fleet import start_upstream
from tests.support.http import call


@dataclass(frozen=True)
class Upstreams:
    blue: str
    green: str


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("e2e")


@pytest.fixture(scope="module")
def upstreams(folder: Path) -> Iterator[Upstreams]:
    blue, blue_process = start_upstream("blue", folder)
    green, green_process = start_upstream("green", folder)
    yield Upstreams(blue, green)
    blue_process.stop()
    green_process.stop()


@pytest.fixture(scope="module")
def cp(etcd_server: EmbeddedEtcd, folder: Path) -> Iterator[ControlPlane]:
    plane = start_control_plane(etcd_server, folder)
    yield plane
    plane.process.stop()


def config(target: str, *, extra_route: str = "", mock_body: str = "ok") -> str:
    """/users proxied to ``target``; /status a mock with ``mock_body``; maybe one more mock."""
    text = f"""\
upstreams:
  - name: users
    targets: [{{address: "{target}"}}]
routes:
  - id: users
    paths: ["/users"]
    upstream: users
  - id: status
    paths: ["/status"]
    path_match: exact
    mock: {{status: 200, body: "{mock_body}"}}
"""
    if extra_route:
        text += f"""\
  - id: {extra_route}
    paths: ["/{extra_route}"]
    mock: {{status: 200, body: "{extra_route}"}}
"""
    return text


def apply_and_deploy(cp: ControlPlane, text: str, stage: str) -> int:
    applied = call("POST", f"{cp.url}/v1/versions", data=text.encode(),
                   content_type="application/yaml")
    assert applied.status in (200, 201), applied.body
    version = int(applied.body["version"])
    deployed = call("POST", f"{cp.url}/v1/stages/{stage}/deploy", json_body={"version": version})
    assert deployed.status == 200, deployed.body
    return version

"""Apply asks each plugin to check its own config (ValidateConfig) before a version exists."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from edgeway.sdk.testing import PluginProcess, free_port
from tests.support.controlplane import ControlPlane
from tests.support.http import Answer, call

ECHO = Path(__file__).resolve().parents[1] / "plugins" / "echo_plugin.py"


@pytest.fixture(scope="module")
def echo() -> Iterator[PluginProcess]:
    with PluginProcess(ECHO) as process:
        yield process


def config(endpoint: str, plugin_config: str) -> str:
    return f"""\
plugins:
  - {{name: echo, endpoints: ["{endpoint}"], timeout_ms: 500, failure_mode: closed}}
upstreams:
  - name: users
    targets: [{{address: "127.0.0.1:8001"}}]
routes:
  - id: plugged
    paths: ["/plugged"]
    upstream: users
    policies:
      - name: echo
        config: {plugin_config}
"""


def apply(cp: ControlPlane, text: str) -> Answer:
    return call("POST", f"{cp.url}/v1/versions", data=text.encode(),
                content_type="application/yaml")


def test_a_plugin_config_the_plugin_rejects_never_becomes_a_version(
        control_plane: ControlPlane, echo: PluginProcess) -> None:
    keys = control_plane.keys()
    answer = apply(control_plane, config(echo.address, "{limits: [{max: 3}, {max: 0}]}"))
    assert answer.status == 400, answer.body
    paths = [e["path"] for e in answer.body["errors"]]
    assert paths == ["routes[0].policies[0].config.limits[1].max"]
    assert "greater than 0" in answer.body["errors"][0]["message"]
    assert control_plane.keys() == keys


def test_a_plugin_config_the_plugin_accepts_is_applied(
        control_plane: ControlPlane, echo: PluginProcess) -> None:
    answer = apply(control_plane, config(echo.address, "{tag: ok, limits: [{max: 3}]}"))
    assert answer.status == 201, answer.body


def test_an_unreachable_plugin_fails_the_apply_naming_it(control_plane: ControlPlane) -> None:
    keys = control_plane.keys()
    address = f"127.0.0.1:{free_port()}"
    answer = apply(control_plane, config(address, "{tag: x}"))
    assert answer.status == 400
    error = answer.body["errors"][0]
    assert error["path"] == "plugins[0].endpoints"
    assert "echo" in error["message"]
    assert address in error["message"]
    assert control_plane.keys() == keys

"""OnLog entries travel in background batches; ValidateConfig errors land on config paths."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
from google.protobuf import json_format

from edgeway.common.plugins import PluginUnreachable, validate_config, validate_plugin_configs
from edgeway.edge.plugins import LogSettings, PluginClients, PluginInstance
from edgeway.sdk.testing import PluginProcess, free_port, make_request
from edgeway.v1 import config_pb2, plugin_pb2
from tests.plugins.conftest import endpoint

pytestmark = pytest.mark.asyncio(loop_scope="module")


def entry(request_id: str, failures: tuple[str, ...] = ()) -> plugin_pb2.LogEntry:
    return plugin_pb2.LogEntry(request=make_request(request_id=request_id), status=200,
                               plugin_failures=failures)


async def test_log_entries_are_sent_in_batches_off_the_request_path(
        echo: PluginProcess, tmp_path: Path) -> None:
    out = tmp_path / "log.jsonl"
    instance = PluginInstance.build("echo", {"log_file": str(out)})
    settings = LogSettings(batch_size=10, interval=0.05)
    async with PluginClients({"echo": endpoint(echo.port)}, log_settings=settings) as clients:
        started = time.perf_counter()
        for index in range(25):
            clients.log(instance, entry(f"r{index}", ("authz",) if index == 0 else ()))
        assert time.perf_counter() - started < 0.01  # appending only
        for _ in range(100):
            if out.exists() and len(out.read_text().splitlines()) == 25:
                break
            await asyncio.sleep(0.02)
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["id"] for line in lines] == [f"r{index}" for index in range(25)]
    assert lines[0]["failures"] == ["authz"]
    assert max(line["batch"] for line in lines) == 10
    assert clients.endpoints == {}


async def test_log_entries_for_a_dead_plugin_are_dropped_and_counted() -> None:
    settings = LogSettings(batch_size=5, interval=0.05, send_timeout=0.5)
    clients = PluginClients({"echo": endpoint(free_port())}, log_settings=settings)
    instance = PluginInstance.build("echo", {})
    for index in range(7):
        clients.log(instance, entry(str(index)))
    shipper = clients.endpoints["echo"].logs
    await clients.close()
    assert (shipper.sent, shipper.dropped) == (0, 7)


def gateway(plugin_port: int, other_port: int) -> config_pb2.GatewayConfig:
    data = {
        "plugins": [{"name": "echo", "endpoints": [f"127.0.0.1:{plugin_port}"]},
                    {"name": "gone", "endpoints": [f"127.0.0.1:{other_port}"]}],
        "policies": [{"name": "echo", "config": {"tag": 5}}],
        "routes": [{"id": "r0", "paths": ["/"], "policies": [
            {"name": "key-auth"},
            {"name": "echo", "config": {"limits": [{"max": 3}, {"max": -1}]}}]}],
        "consumers": [{"name": "c", "policies": [{"name": "echo", "config": {"typo": 1}}]}],
    }
    return json_format.ParseDict(data, config_pb2.GatewayConfig())


async def test_plugin_configs_are_checked_by_their_plugins_at_apply_time(
        echo: PluginProcess) -> None:
    gone = free_port()
    errors = dict(await validate_plugin_configs(gateway(echo.port, gone), timeout=2.0))
    assert errors.keys() == {"policies[0].config.tag", "routes[0].policies[1].config.limits[1].max",
                             "consumers[0].policies[0].config.typo"}
    assert "greater than 0" in errors["routes[0].policies[1].config.limits[1].max"]
    assert "valid string" in errors["policies[0].config.tag"]


async def test_an_unreachable_plugin_is_named_with_its_endpoint(echo: PluginProcess) -> None:
    gone = free_port()
    config = gateway(echo.port, gone)
    config.routes[0].policies.add(name="gone")
    errors = await validate_plugin_configs(config, timeout=1.0)
    unreachable = [(path, message) for path, message in errors if path.startswith("plugins")]
    assert len(unreachable) == 1
    path, message = unreachable[0]
    assert path == "plugins[1].endpoints"
    assert "'gone'" in message
    assert f"127.0.0.1:{gone}" in message


async def test_validate_config_answers_for_one_instance(echo: PluginProcess) -> None:
    struct = PluginInstance.build("echo", {"limits": [{"max": 0}]}).config
    assert await validate_config("echo", [echo.address], struct) == [
        ("limits[0].max", "Input should be greater than 0")]
    with pytest.raises(PluginUnreachable, match="unreachable"):
        await validate_config("echo", [f"127.0.0.1:{free_port()}"], struct, timeout=1.0)

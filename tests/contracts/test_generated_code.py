"""The committed protobuf modules are exactly what proto/generate.py produces now."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("edgeway_proto_generate",
                                                  ROOT / "proto" / "generate.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_modules_are_not_stale() -> None:
    generator = load_generator()
    assert generator.stale_files() == []


def test_a_changed_proto_makes_the_check_fail(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    generator = load_generator()
    package = tmp_path / "edgeway" / "v1"
    shutil.copytree(generator.PACKAGE_DIR, package)
    proto = package / "discovery.proto"
    proto.write_text(proto.read_text().replace("string reason = 1;",
                                               "string reason = 1;\n  string extra = 2;"))
    monkeypatch.setattr(generator, "PROTO_ROOT", tmp_path)
    monkeypatch.setattr(generator, "PACKAGE_DIR", package)
    assert "discovery_pb2.py" in generator.stale_files()


def test_every_contract_imports_under_the_edgeway_namespace() -> None:
    from edgeway.v1 import config_pb2, discovery_pb2_grpc, plugin_pb2_grpc

    assert config_pb2.GatewayConfig.DESCRIPTOR.full_name == "edgeway.v1.GatewayConfig"
    assert hasattr(discovery_pb2_grpc, "ConfigDiscoveryServicer")
    assert hasattr(plugin_pb2_grpc, "PluginServicer")

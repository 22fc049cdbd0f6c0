"""Config builders shared by the unit tests: a minimal valid config and ways to judge one."""

from __future__ import annotations

import copy
from typing import Any

from edgeway.common.config.loading import config_from_dict
from edgeway.edge.compile import CompiledConfig, compile_config, compile_errors
from edgeway.v1.config_pb2 import GatewayConfig

MINIMAL_YAML = """\
upstreams:
  - name: users
    targets: [{address: "127.0.0.1:8001", weight: 1}]
routes:
  - id: users-api
    paths: ["/users"]
    upstream: users
"""

_BASE: dict[str, Any] = {
    "upstreams": [{"name": "users", "targets": [{"address": "127.0.0.1:8001"}]}],
    "routes": [{"id": "users-api", "paths": ["/users"], "upstream": "users"}],
}


def base(**extra: Any) -> dict[str, Any]:
    """A fresh copy of a minimal valid config, with top-level fields replaced by ``extra``."""
    data = copy.deepcopy(_BASE)
    data.update(copy.deepcopy(extra))
    return data


def route(id: str = "r", **fields: Any) -> dict[str, Any]:
    """A valid route to the ``users`` upstream on path ``/<id>``, with ``fields`` replaced."""
    data: dict[str, Any] = {"id": id, "paths": [f"/{id}"], "upstream": "users"}
    data.update(fields)
    return data


def with_routes(*routes: dict[str, Any]) -> dict[str, Any]:
    """The minimal config with ``routes`` added after its own route."""
    data = base()
    data["routes"].extend(routes)
    return data


def to_config(data: dict[str, Any]) -> GatewayConfig:
    return config_from_dict(data)


def problems(data: dict[str, Any]) -> list[str]:
    """The compile errors of ``data`` as ``"path: message"`` strings."""
    return [str(error) for error in compile_errors(config_from_dict(data))]


def compiled(data: dict[str, Any]) -> CompiledConfig:
    return compile_config(config_from_dict(data))

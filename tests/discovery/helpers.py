"""A fake edge for discovery tests (the real DiscoveryClient, applying with the real compiler),
configs that do and do not compile, and polling with a deadline."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from edgeway.common.config.canonical import config_hash
from edgeway.common.config.loading import config_from_dict
from edgeway.common.config.variables import render_for_stage
from edgeway.edge.compile import compile_config
from edgeway.edge.discovery import Backoff, ConfigPush, DiscoveryClient
from edgeway.v1.config_pb2 import GatewayConfig


def good_config(n: int, *, host: str = "${stage.host}") -> GatewayConfig:
    """A config that compiles, different for every ``n``, with a stage variable."""
    return config_from_dict({
        "upstreams": [{"name": "users", "targets": [{"address": "127.0.0.1:8001"}]}],
        "routes": [{"id": f"r{n}", "paths": [f"/v{n}"], "hosts": [host], "upstream": "users"}],
        "variables": {"host": "api.example.com"},
        "stage_variables": {"prod": {"values": {"host": "prod.example.com"}}},
    })


def bad_config() -> GatewayConfig:
    """A config the edge's compiler rejects: its route names an upstream that does not exist."""
    return config_from_dict({
        "upstreams": [{"name": "users", "targets": [{"address": "127.0.0.1:8001"}]}],
        "routes": [{"id": "broken", "paths": ["/x"], "upstream": "nowhere"}],
    })


def rendered_hash(config: GatewayConfig, stage: str) -> str:
    return config_hash(render_for_stage(config, stage))


async def eventually(check: Callable[[], bool | Awaitable[bool]], *, within: float = 10.0,
                     what: str = "condition") -> float:
    """Poll ``check`` until true; return the seconds it took, fail after ``within`` seconds."""
    started = time.monotonic()
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return time.monotonic() - started
        if time.monotonic() - started > within:
            raise AssertionError(f"{what} not reached within {within}s")
        await asyncio.sleep(0.02)


@dataclass
class FakeEdge:
    """An edge without a proxy: compiles each push and records it."""

    node_id: str
    stage: str
    endpoints: Sequence[str]
    region: str = "eu-west"
    build: str = "test-1"
    running: tuple[str, int] = ("", 0)
    apply_delay: float = 0.0
    pushes: list[ConfigPush] = field(default_factory=list)
    applied_versions: list[int] = field(default_factory=list)
    client: DiscoveryClient | None = None

    async def apply(self, push: ConfigPush) -> None:
        self.pushes.append(push)
        if self.apply_delay:
            await asyncio.sleep(self.apply_delay)
        compile_config(push.config)  # raises ConfigInvalid: the client NACKs
        self.running = (push.hash, push.version)
        self.applied_versions.append(push.version)

    def start_client(self, **options: Any) -> DiscoveryClient:
        options.setdefault("backoff", Backoff(first=0.05, cap=0.5))
        options.setdefault("heartbeat_interval", 0.5)
        self.client = DiscoveryClient(
            self.endpoints, node_id=self.node_id, region=self.region, stage=self.stage,
            build=self.build, apply=self.apply, current=lambda: self.running, **options)
        return self.client

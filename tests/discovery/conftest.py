"""Fixtures: discovery servers (replicas) on loopback and fake edges, all stopped after a test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import pytest

from edgeway.controlplane.discovery import (
    DiscoveryServer,
    DiscoverySettings,
    SessionTimings,
    serve_discovery,
)
from edgeway.controlplane.etcd_server import EmbeddedEtcd
from edgeway.controlplane.store import EtcdStore
from tests.discovery.helpers import FakeEdge

FAST = DiscoverySettings(lease_ttl=2, debounce=0.05, max_delay=0.5, grace=0.5,
                         timings=SessionTimings(ack_timeout=5.0, idle_timeout=30.0))

StartReplica = Callable[..., Awaitable[DiscoveryServer]]
StartEdge = Callable[..., Awaitable[FakeEdge]]


@pytest.fixture
async def stack() -> AsyncIterator[AsyncExitStack]:
    async with AsyncExitStack() as exits:
        yield exits


@pytest.fixture
def start_replica(stack: AsyncExitStack, etcd_server: EmbeddedEtcd,
                  etcd_prefix: str) -> StartReplica:
    """``await start_replica()``: another control-plane replica (own store) on the test prefix."""

    async def start(**options: Any) -> DiscoveryServer:
        store = await EtcdStore.connect([etcd_server.endpoint], prefix=etcd_prefix)
        stack.push_async_callback(store.close)
        options.setdefault("settings", FAST)
        return await stack.enter_async_context(
            serve_discovery(store, listen=("127.0.0.1", 0), **options))

    return start


@pytest.fixture
def start_edge(stack: AsyncExitStack) -> StartEdge:
    """``await start_edge(node_id, stage, endpoints, **FakeEdge fields)``: a connected edge."""

    async def start(node_id: str, stage: str, endpoints: list[str], *,
                    client_options: dict[str, Any] | None = None, **fields: Any) -> FakeEdge:
        edge = FakeEdge(node_id, stage, endpoints, **fields)
        client = edge.start_client(**(client_options or {}))
        await stack.enter_async_context(client)
        return edge

    return start

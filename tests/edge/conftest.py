"""Fixtures of the edge proxy tests: real upstream processes, an in-process ``EdgeProxy``.

Tests here run on uvloop (the edge's loop), one loop per module (each module marks itself
``loop_scope="module"``), so the rest of the suite keeps its own session loop.

- ``upstreams``: three upstream processes (``tests.support.upstream``) for the whole session;
  ``upstream`` is the first one's port;
- ``edge``: an ``EdgeProxy`` listening on a free loopback port with an in-memory access log,
  stopped after the test; ``edge.swap(config)`` compiles a config dict and installs it.
"""

from __future__ import annotations

import asyncio
import io
import itertools
import json
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
import pytest_asyncio
import uvloop

from edgeway.common.config.loading import config_from_dict
from edgeway.edge.accesslog import AccessLog
from edgeway.edge.compile import compile_config
from edgeway.edge.proxy import EdgeProxy
from tests.support.upstream import UpstreamProcess


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> Mapping[str, Callable[[], asyncio.AbstractEventLoop]]:
    return {"uvloop": uvloop.new_event_loop}


@pytest.fixture(scope="session")
def upstreams() -> Iterator[list[int]]:
    processes = [UpstreamProcess() for _ in range(3)]
    try:
        yield [process.start() for process in processes]
    finally:
        for process in processes:
            process.stop()


@pytest.fixture(scope="session")
def upstream(upstreams: list[int]) -> int:
    return upstreams[0]


_versions = itertools.count(1)


@dataclass
class RunningEdge:
    proxy: EdgeProxy
    port: int
    log_stream: io.StringIO
    access_log: AccessLog
    versions: list[int] = field(default_factory=list)

    def swap(self, data: dict[str, Any], version: int | None = None) -> int:
        """Compile ``data`` (a config as YAML would hold it) and install it."""
        number = next(_versions) if version is None else version
        compiled = compile_config(config_from_dict(data))
        self.proxy.swap(compiled, version=number, config_hash=f"hash-{number}")
        self.versions.append(number)
        return number

    async def log_lines(self) -> list[dict[str, Any]]:
        await self.access_log.flush()
        return [json.loads(line) for line in self.log_stream.getvalue().splitlines()]


@pytest_asyncio.fixture(loop_scope="module")
async def edge() -> AsyncIterator[RunningEdge]:
    stream = io.StringIO()
    access_log = AccessLog(stream)
    proxy = EdgeProxy(node_id="test-node", stage="test", region="local", access_log=access_log)
    port = await proxy.start("127.0.0.1", 0)
    try:
        yield RunningEdge(proxy, port, stream, access_log)
    finally:
        await proxy.stop(drain_timeout=2.0)
        await access_log.close()


def upstream_of(name: str, ports: list[int], weights: list[int] | None = None,
                **extra: Any) -> dict[str, Any]:
    """An upstream config with targets on 127.0.0.1."""
    targets = [
        {"address": f"127.0.0.1:{port}", **({"weight": weights[i]} if weights else {})}
        for i, port in enumerate(ports)
    ]
    return {"name": name, "targets": targets, **extra}


def gateway(routes: list[dict[str, Any]], upstreams: list[dict[str, Any]]) -> dict[str, Any]:
    return {"routes": routes, "upstreams": upstreams}


async def upstream_stats(port: int, *, reset: bool = False) -> dict[str, int]:
    """An upstream process's counters (``/__stats``), straight from it."""
    from tests.edge.client import fetch

    answer = await fetch(port, "GET", "/__stats" + ("?reset=1" if reset else ""),
                         host=f"127.0.0.1:{port}")
    result: dict[str, int] = answer.json()
    return result


async def set_upstream(port: int, *, fail: str = "none", health: int = 200) -> None:
    """Make an upstream process fail (``reset`` or a status) or heal, and set its health."""
    from tests.edge.client import fetch

    answer = await fetch(port, "GET", f"/__set?fail={fail}&health={health}",
                         host=f"127.0.0.1:{port}")
    assert answer.status == 200, answer.body


@pytest_asyncio.fixture(loop_scope="module")
async def healed(upstreams: list[int]) -> AsyncIterator[list[int]]:
    """The upstream processes, made healthy and with counters reset before and after."""
    for port in upstreams:
        await set_upstream(port)
        await upstream_stats(port, reset=True)
    try:
        yield upstreams
    finally:
        for port in upstreams:
            await set_upstream(port)

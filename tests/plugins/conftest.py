"""Fixtures of the plugin-client tests: real plugin processes, endpoints, call counters.

Tests here run on uvloop (the edge's loop), one loop per module (each module marks itself
``loop_scope="module"``).

- ``echo``: the SDK test plugin ``echo_plugin.py`` as a process for the whole session (tests
  that stop or break a plugin start their own);
- :func:`endpoint`: a ``CompiledPlugin`` as the compile step would build it;
- :func:`plugin_calls`: how many ``on_request`` calls a running echo plugin has had;
- ``receiver``: a real OTLP receiver per module, for trace-continuity tests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest
import uvloop

from edgeway.edge.compile.model import CircuitBreakerSettings, CompiledPlugin
from edgeway.sdk.testing import PluginProcess, connect
from tests.support.otlp import OtlpReceiver

ECHO = Path(__file__).with_name("echo_plugin.py")
CONTRIB = Path(__file__).resolve().parents[2] / "plugins-contrib"


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> Mapping[str, Callable[[], asyncio.AbstractEventLoop]]:
    return {"uvloop": uvloop.new_event_loop}


@pytest.fixture(scope="session")
def echo() -> Iterator[PluginProcess]:
    with PluginProcess(ECHO) as process:
        yield process


def endpoint(*ports: int, name: str = "echo", timeout_ms: int = 200,
             failure_mode: str = "closed", cache_ttl_ms: int = 0,
             breaker: tuple[int, int] | None = None) -> CompiledPlugin:
    return CompiledPlugin(
        name=name, endpoints=tuple(("127.0.0.1", port) for port in ports),
        timeout_ms=timeout_ms, failure_mode=failure_mode, cache_ttl_ms=cache_ttl_ms,
        circuit_breaker=CircuitBreakerSettings(*breaker) if breaker else None,
    )  # fmt: skip


async def plugin_calls(process: PluginProcess) -> int:
    async with connect(process.address) as remote:
        calls: int = (await remote.request(path="/__calls")).json()["calls"]
        return calls


@pytest.fixture(scope="module")
def receiver() -> Iterator[OtlpReceiver]:
    sink = OtlpReceiver()
    sink.start()
    try:
        yield sink
    finally:
        sink.stop()

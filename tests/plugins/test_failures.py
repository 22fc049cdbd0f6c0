"""A slow, failing, dead or hung plugin costs at most its deadline; the failure mode decides
(closed: 503 plugin_unavailable, open: go on, marked) and the circuit breaker stops calling a
plugin that keeps failing until a probe succeeds."""

from __future__ import annotations

import asyncio
import json
import signal
import time

import pytest

from edgeway.edge.plugins import BreakerState, PluginClients, PluginInstance, RequestOutcome
from edgeway.sdk.testing import PluginProcess, free_port, make_request
from tests.plugins.conftest import ECHO, endpoint, plugin_calls

pytestmark = pytest.mark.asyncio(loop_scope="module")

INSTANCE = PluginInstance.build("echo", {})
SLOW = make_request(headers={"x-sleep-ms": "1000"})


def assert_unavailable(outcome: RequestOutcome, reason: str) -> None:
    assert outcome.failure is not None
    assert reason in outcome.failure
    assert outcome.response is not None
    assert outcome.response.status == 503
    body = json.loads(outcome.response.body)
    assert body["code"] == "plugin_unavailable"
    assert reason in body["message"]


@pytest.mark.parametrize("exchange", [True, False])
async def test_a_slow_plugin_fails_closed_at_its_deadline(echo: PluginProcess,
                                                          exchange: bool) -> None:
    async with PluginClients({"echo": endpoint(echo.port, timeout_ms=100)},
                             exchange=exchange) as clients:
        started = time.perf_counter()
        outcome = await clients.on_request(INSTANCE, SLOW)
        assert time.perf_counter() - started < 0.5
    assert_unavailable(outcome, "deadline exceeded")


async def test_a_slow_plugin_fails_open_and_the_request_goes_on(echo: PluginProcess) -> None:
    plugin = endpoint(echo.port, timeout_ms=100, failure_mode="open")
    async with PluginClients({"echo": plugin}) as clients:
        outcome = await clients.on_request(INSTANCE, SLOW)
    assert (outcome.response, outcome.mutations) == (None, None)
    assert outcome.failure == "deadline exceeded"


@pytest.mark.parametrize("exchange", [True, False])
async def test_a_hook_that_raises_is_a_failure(echo: PluginProcess, exchange: bool) -> None:
    async with PluginClients({"echo": endpoint(echo.port)}, exchange=exchange) as clients:
        outcome = await clients.on_request(INSTANCE, make_request(headers={"x-raise": "1"}))
    assert_unavailable(outcome, "RuntimeError: asked to fail")


async def test_a_plugin_that_is_down_fails_fast() -> None:
    async with PluginClients({"echo": endpoint(free_port(), timeout_ms=2000)}) as clients:
        assert clients.description("echo") is None
        started = time.perf_counter()
        outcome = await clients.on_request(INSTANCE, make_request())
        assert time.perf_counter() - started < 1.0
    assert_unavailable(outcome, "unavailable")


async def test_a_hung_plugin_costs_its_deadline_and_recovers() -> None:
    with PluginProcess(ECHO) as process:
        async with PluginClients({"echo": endpoint(process.port, timeout_ms=150)}) as clients:
            process.signal(signal.SIGSTOP)
            started = time.perf_counter()
            outcomes = await asyncio.gather(
                *(clients.on_request(INSTANCE, make_request()) for _ in range(3)))
            assert time.perf_counter() - started < 0.6
            assert all(o.failure == "deadline exceeded" for o in outcomes)
            process.signal(signal.SIGCONT)
            assert (await clients.on_request(INSTANCE, make_request())).failure is None


async def test_a_restarted_plugin_is_called_again() -> None:
    process = PluginProcess(ECHO)
    process.start()
    try:
        async with PluginClients({"echo": endpoint(process.port)}) as clients:
            assert (await clients.on_request(INSTANCE, make_request())).failure is None
            process.stop()
            assert (await clients.on_request(INSTANCE, make_request())).failure is not None
            process.start()
            for _ in range(40):  # the channel reconnects with a short backoff
                if (await clients.on_request(INSTANCE, make_request())).failure is None:
                    break
                await asyncio.sleep(0.05)
            else:
                pytest.fail("the plugin was not called again after its restart")
    finally:
        process.stop()


async def test_the_breaker_opens_after_consecutive_failures_and_a_probe_closes_it() -> None:
    with PluginProcess(ECHO) as process:
        plugin = endpoint(process.port, breaker=(3, 300), failure_mode="open")
        async with PluginClients({"echo": plugin}) as clients:
            client = clients.endpoints["echo"]
            failing = make_request(headers={"x-raise": "1"})
            for _ in range(3):
                assert (await clients.on_request(INSTANCE, failing)).failure is not None
            assert client.breaker.state is BreakerState.OPEN
            before = await plugin_calls(process)
            rejected = await clients.on_request(INSTANCE, make_request())
            assert rejected.failure == "circuit breaker open"
            assert await plugin_calls(process) == before  # not called while open
            assert client.stats.rejected_by_breaker == 1

            await asyncio.sleep(0.35)
            assert (await clients.on_request(INSTANCE, failing)).failure is not None
            assert client.breaker.state is BreakerState.OPEN  # a failed probe opens it again
            await asyncio.sleep(0.35)
            assert (await clients.on_request(INSTANCE, make_request())).failure is None
            assert str(client.breaker.state) == "closed"  # a probe that succeeds closes it

"""The circuit breaker of an upstream, through its states: closed, open after N failures,
half-open with one probe, then closed again or open again."""

from __future__ import annotations

import asyncio

import pytest

from edgeway.edge.balancing import Breaker, BreakerState
from edgeway.edge.compile.model import CircuitBreakerSettings
from tests.edge.client import fetch
from tests.edge.conftest import RunningEdge, gateway, set_upstream, upstream_of, upstream_stats
from tests.edge.test_errors import assert_error

aio = pytest.mark.asyncio(loop_scope="module")


def test_the_breaker_opens_after_n_failures_and_lets_one_probe_through_when_half_open() -> None:
    breaker = Breaker(CircuitBreakerSettings(failure_threshold=3, open_ms=1000))
    assert breaker.allow(0.0) == 1
    breaker.failed(0.0)
    breaker.failed(0.1)
    breaker.succeeded()  # consecutive failures only
    for moment in (0.25, 0.375, 0.5):
        breaker.failed(moment)
    assert breaker.state is BreakerState.OPEN
    assert breaker.allow(1.0) == 0
    assert breaker.retry_after(1.0) == 0.5
    assert breaker.allow(1.5) == 2  # the probe
    assert breaker.state.value == "half-open"
    assert breaker.allow(1.625) == 0  # one probe at a time
    breaker.failed(1.75)  # the probe failed: open again, for a full period
    assert (breaker.state, breaker.allow(2.5), breaker.allow(2.75)) == (BreakerState.OPEN, 0, 2)
    breaker.abandoned()  # that probe's client left: the next request probes
    assert breaker.allow(2.875) == 2
    breaker.succeeded()
    assert (breaker.state, breaker.allow(3.0)) == (BreakerState.CLOSED, 1)


@aio
async def test_an_open_breaker_answers_503_without_calling_and_a_good_probe_closes_it(
    edge: RunningEdge, healed: list[int]
) -> None:
    port = healed[0]
    edge.swap(gateway(
        [{"id": "r", "paths": ["/"], "upstream": "pool"}],
        [upstream_of("pool", [port], circuit_breaker={"failure_threshold": 3, "open_ms": 400},
                     retries={"attempts": 0})],
    ))  # fmt: skip
    await set_upstream(port, fail="reset")
    for _ in range(3):  # closed: failures go through
        assert_error(await fetch(edge.port, "GET", "/x"), 502, "upstream_reset")
    assert (await upstream_stats(port))["requests"] == 3
    body = assert_error(await fetch(edge.port, "GET", "/x"), 503, "circuit_open")  # open
    assert "'pool'" in body["message"]
    assert (await upstream_stats(port))["requests"] == 3  # not called

    await asyncio.sleep(0.45)  # half-open: one probe goes through, and fails
    assert_error(await fetch(edge.port, "GET", "/x"), 502, "upstream_reset")
    assert_error(await fetch(edge.port, "GET", "/x"), 503, "circuit_open")  # open again
    assert (await upstream_stats(port))["requests"] == 4

    await set_upstream(port)
    assert_error(await fetch(edge.port, "GET", "/x"), 503, "circuit_open")  # still open
    await asyncio.sleep(0.45)  # half-open: the probe succeeds and closes the breaker
    for _ in range(3):
        assert (await fetch(edge.port, "GET", "/x")).status == 200
    assert (await upstream_stats(port))["requests"] == 7


@aio
async def test_5xx_answers_count_as_failures_and_a_swap_keeps_the_breaker(
    edge: RunningEdge, healed: list[int]
) -> None:
    port = healed[1]
    config = gateway(
        [{"id": "r", "paths": ["/"], "upstream": "pool"}],
        [upstream_of("pool", [port], circuit_breaker={"failure_threshold": 2, "open_ms": 5000})],
    )
    edge.swap(config)
    await set_upstream(port, fail="503")
    assert [(await fetch(edge.port, "GET", "/x")).status for _ in range(2)] == [503, 503]
    config["routes"].append({"id": "other", "paths": ["/other"], "upstream": "pool"})
    edge.swap(config)  # same upstream, same breaker settings: still open
    assert_error(await fetch(edge.port, "GET", "/x"), 503, "circuit_open")

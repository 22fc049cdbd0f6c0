"""rate-limit in cluster mode against a real Redis: fleet-wide accuracy, failure modes."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from edgeway.edge.policies.services import Services
from tests.support.exchange import TestExchange, serve
from tests.support.redis import EmbeddedRedis
from tests.unit.edge.policies.helpers import build, chain_of

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 1000


def run_edges(url: str, edges: int, requests: int, concurrency: int,
              burst: int = LIMIT) -> list[dict[str, int]]:
    start_at = time.time() + 1.5  # both processes import, connect, then start together
    processes = [
        subprocess.Popen([sys.executable, "-m", "tests.policies.limiter_main", url,
                          str(requests), str(concurrency), str(start_at), str(burst)],
                         cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(edges)
    ]  # fmt: skip
    results = []
    for process in processes:
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0, err.decode()
        results.append(json.loads(out.decode().strip().splitlines()[-1]))
    return results


def test_two_edge_processes_sharing_one_limit_admit_the_limit_not_twice_it(
    redis_url: str,
) -> None:
    results = run_edges(redis_url, edges=2, requests=1500, concurrency=50)
    admitted = sum(r["admitted"] for r in results)
    assert sum(r["unavailable"] for r in results) == 0
    assert all(r["admitted"] > 100 for r in results), results  # both edges really competed
    assert LIMIT <= admitted <= LIMIT * 1.01, results


async def evalsha_calls(url: str) -> int:
    client = Redis.from_url(url)
    try:
        stats = await client.info("commandstats")
    finally:
        await client.aclose()
    return int(stats.get("cmdstat_evalsha", {}).get("calls", 0))


async def test_large_limits_are_leased_and_still_admit_the_limit_not_more(
    redis_url: str,
) -> None:
    burst = 40_000  # leases of 40 tokens: 1/1000 of the burst
    before = await evalsha_calls(redis_url)
    results = await asyncio.to_thread(run_edges, redis_url, edges=2, requests=25_000,
                                      concurrency=50, burst=burst)
    admitted = sum(r["admitted"] for r in results)
    assert sum(r["unavailable"] for r in results) == 0
    assert all(r["admitted"] > 4_000 for r in results), results  # both edges really competed
    assert burst * 0.99 <= admitted <= burst * 1.01, results
    calls = await evalsha_calls(redis_url) - before
    refused = sum(r["refused"] for r in results)  # each asked Redis once
    assert calls - refused < admitted / 5, (calls, results)  # most admitted from leases


async def test_an_expired_lease_gives_its_tokens_back(redis_url: str) -> None:
    now = [100.0]
    services = Services(redis_url=redis_url, clock=lambda: now[0])
    client = Redis.from_url(redis_url)
    try:
        config = {"rate": 4000, "period": "hour", "burst": 4000, "mode": "cluster",
                  "key": "route"}
        handler = build("rate-limit", config, using=services)
        chain = chain_of(handler)
        first = await serve(chain, TestExchange())  # takes a lease of 4 tokens, uses 1
        assert first.status == 200
        assert first.headers["ratelimit-remaining"] == "3999"
        [bucket] = await client.keys("edgeway:rl:*")
        assert 3996 <= float(await client.hget(bucket, "tokens") or 0) < 3996.1  # 4 taken
        second = await serve(chain, TestExchange())  # from the lease: no Redis call
        assert second.headers["ratelimit-remaining"] == "3998"
        now[0] += 1.0  # the lease expires with 2 tokens left
        third = await serve(chain, TestExchange())  # gives 2 back, takes a new lease
        assert third.status == 200
        tokens = float(await client.hget(bucket, "tokens") or 0)
        assert 3994 <= tokens < 3994.1  # 4000 - 4 + 2 - 4 (plus a little refill)
    finally:
        await client.aclose()
        await services.aclose()


async def test_concurrent_calls_are_pipelined_and_still_exact(redis_services: Services) -> None:
    config = {"rate": 50, "period": "hour", "burst": 50, "mode": "cluster", "key": "route"}
    chain = chain_of(build("rate-limit", config, using=redis_services))
    responses = await asyncio.gather(*(serve(chain, TestExchange()) for _ in range(200)))
    statuses = [r.status for r in responses]
    assert statuses.count(200) == 50
    assert statuses.count(429) == 150
    refused = next(r for r in responses if r.status == 429)
    assert int(refused.headers["retry-after"]) == 72  # one token per 3600/50 s
    assert refused.headers["ratelimit-remaining"] == "0"


async def test_edges_agree_because_redis_keeps_the_clock(redis_url: str) -> None:
    config = {"rate": 10, "period": "second", "burst": 2, "mode": "cluster", "key": "route"}
    first, second = Services(redis_url=redis_url), Services(redis_url=redis_url)
    try:
        a = chain_of(build("rate-limit", config, using=first))
        b = chain_of(build("rate-limit", config, using=second))
        statuses = [(await serve(chain, TestExchange())).status for chain in (a, b, a, b)]
        assert statuses == [200, 200, 429, 429]
        await asyncio.sleep(0.25)  # 2.5 tokens back, capped at the burst of 2
        statuses = [(await serve(chain, TestExchange())).status for chain in (b, a, b)]
        assert statuses == [200, 200, 429]
    finally:
        await first.aclose()
        await second.aclose()


@pytest.mark.parametrize("failure", ["stopped", "frozen"])
async def test_fail_open_counts_locally_and_fail_closed_answers_503(failure: str) -> None:
    with EmbeddedRedis() as server:
        services = Services(redis_url=server.url)
        try:
            base: dict[str, Any] = {"rate": 1, "period": "hour", "burst": 2, "mode": "cluster",
                                    "key": "route", "redis_timeout_ms": 200}  # fmt: skip
            open_chain = chain_of(build("rate-limit", base, using=services))
            closed_chain = chain_of(build("rate-limit", {**base, "failure_mode": "closed"},
                                          using=services))  # fmt: skip
            assert (await serve(open_chain, TestExchange())).status == 200  # Redis is up
            if failure == "stopped":
                server.stop()
            else:
                server.pause()
            started = time.monotonic()
            statuses = [(await serve(open_chain, TestExchange())).status for _ in range(4)]
            assert statuses == [200, 200, 429, 429]  # the local bucket: burst 2
            closed = await serve(closed_chain, TestExchange())
            assert closed.status == 503
            assert json.loads(closed.body or b"")["code"] == "rate_limit_unavailable"
            assert time.monotonic() - started < 2.0  # one deadline, then fast failures
            if failure == "frozen":
                server.resume()
        finally:
            await asyncio.wait_for(services.aclose(), 5)

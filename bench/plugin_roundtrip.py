"""Per-call overhead of a plugin round trip, edge client to a no-op plugin process on loopback.

    .venv/bin/python bench/plugin_roundtrip.py [--calls 3000] [--seconds 10]

Starts ``bench/noop_plugin.py`` as a real process and calls ``on_request`` through the edge's
plugin client (``edgeway.edge.plugins.PluginClients``, on uvloop as the edge runs) over the
Exchange stream and over unary calls, at concurrency 1 and 32, plus verdict-cache hits. Each
scenario is bounded by ``--calls`` and ``--seconds``. Prints p50/p99 latency (µs) per call as
the caller sees it and calls/s. The request is a typical one: 12 headers, a query, a consumer.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

import uvloop

from edgeway.edge.compile.model import CompiledPlugin
from edgeway.edge.plugins import PluginClients, PluginInstance
from edgeway.sdk.testing import PluginProcess, make_request
from edgeway.v1 import plugin_pb2

NOOP = Path(__file__).with_name("noop_plugin.py")
HEADERS = {"host": "api.example.com", "user-agent": "bench/1.0", "accept": "application/json",
           "accept-encoding": "gzip", "authorization": "Bearer abc.def.ghi",
           "x-request-id": "0123456789abcdef", "x-forwarded-for": "10.0.0.1",
           "content-type": "application/json", "x-tenant": "acme", "x-a": "1", "x-b": "2",
           "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def scenario(clients: PluginClients, instance: PluginInstance,
                   request: plugin_pb2.HttpRequest, concurrency: int, calls: int,
                   seconds: float) -> tuple[list[float], float]:
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    per_worker = max(1, calls // concurrency)

    async def worker() -> None:
        for _ in range(per_worker):
            if time.perf_counter() > deadline:
                return
            started = time.perf_counter()
            outcome = await clients.on_request(instance, request)
            latencies.append(time.perf_counter() - started)
            if outcome.failure is not None:
                raise RuntimeError(outcome.failure)

    for _ in range(min(200, per_worker)):  # warm up the channel and the stream
        await clients.on_request(instance, request)
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, time.perf_counter() - started


async def run(port: int, calls: int, seconds: float) -> None:
    request = make_request(method="GET", path="/v1/orders/42", headers=HEADERS,
                           query=[("page", "2")], consumer="acme", route_id="orders")
    print(f"{'scenario':<34}{'conc':>5}{'calls':>8}{'p50 µs':>10}{'p99 µs':>10}{'calls/s':>10}")
    for label, exchange, ttl in (("exchange stream", True, 0), ("unary", False, 0),
                                 ("verdict-cache hit", True, 60_000)):
        plugin = CompiledPlugin("noop", (("127.0.0.1", port),), 1000, "closed", ttl, None)
        async with PluginClients({"noop": plugin}, exchange=exchange) as clients:
            instance = PluginInstance.build("noop", {})
            for concurrency in (1, 32):
                latencies, elapsed = await scenario(clients, instance, request, concurrency,
                                                    calls, seconds)
                print(f"{label:<34}{concurrency:>5}{len(latencies):>8}"
                      f"{percentile(latencies, 0.5) * 1e6:>10.0f}"
                      f"{percentile(latencies, 0.99) * 1e6:>10.0f}"
                      f"{len(latencies) / elapsed:>10.0f}")
    loop_cost = []
    for _ in range(1000):
        started = time.perf_counter()
        await asyncio.sleep(0)
        loop_cost.append(time.perf_counter() - started)
    print(f"(one bare loop turn for reference: {statistics.median(loop_cost) * 1e6:.1f} µs)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=3000, help="calls per scenario (bound)")
    parser.add_argument("--seconds", type=float, default=10.0, help="time per scenario (bound)")
    args = parser.parse_args()
    with PluginProcess(NOOP) as process:
        uvloop.run(run(process.port, args.calls, args.seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main())

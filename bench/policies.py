"""Per-request cost of the built-in policy chain, measured on the handlers themselves.

    .venv/bin/python bench/policies.py [--requests 200000] [--redis-url URL]

What runs: the reference chain runner (:mod:`edgeway.edge.policies.chain`) over a lean
exchange shaped like the proxy's (headers parsed once into a dict, query parsed lazily, plain
slots for the changes), on uvloop, for

- no policies (the runner's own cost),
- key-auth alone, and key-auth + rate-limit in ``local`` mode (every request admitted: the
  common case, with its three RateLimit-* headers),
- key-auth + rate-limit in ``cluster`` mode against a real Redis (started here unless
  ``--redis-url`` is given): one request at a time (the round trip is latency, the process
  idles meanwhile) and 64 in flight (calls of one loop iteration share one pipeline; CPU time
  per request is what limits the edge's requests/s).

Figures are in µs per request and as a share of a ~30 µs proxied request (the edge's own cost
on this machine, DESIGN.md). The full edge requests/s with policies comes with the wiring.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable, Mapping, MutableMapping
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import parse_qs

import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edgeway.common.config.loading import config_from_dict
from edgeway.edge.compile import CompiledConfig, PolicyStep, compile_config
from edgeway.edge.compile.model import CompiledConsumer, CompiledCredential
from edgeway.edge.policies import LocalResponse, builtin_registry
from edgeway.edge.policies.base import change_one_by_one
from edgeway.edge.policies.chain import PolicyChain, prepare_chain, run_request
from edgeway.edge.policies.services import Services
from tests.support.redis import EmbeddedRedis

PROXIED_US = 30.0
GATEWAY: dict[str, Any] = {
    "upstreams": [{"name": "orders", "targets": [{"address": "127.0.0.1:8002"}]}],
    "routes": [{"id": "orders", "paths": ["/orders"], "upstream": "orders"}],
    "consumers": [{"name": f"c{i}", "credentials": [{"type": "key-auth", "key": f"key-{i}"}]}
                  for i in range(1000)],
}  # fmt: skip
HEADERS = [(b"Host", b"api.example.com"), (b"User-Agent", b"wrk"), (b"Accept", b"*/*"),
           (b"apikey", b"key-7"), (b"X-Forwarded-For", b"203.0.113.9")]  # fmt: skip


class LeanExchange:
    """The request side the proxy will provide, kept as lean as the proxy's own."""

    __slots__ = ("_headers", "_query", "connection_memo", "consumer", "context", "credential",
                 "query", "removed", "response_headers", "route_id", "set_headers",
                 "verified")  # fmt: skip

    method = "GET"
    path = "/orders"
    host = "api.example.com"
    client_ip = "203.0.113.9"
    params: Mapping[str, str] = MappingProxyType({})
    request_id = "0123456789abcdef0123456789abcdef"
    body = None

    def __init__(self, raw: list[tuple[bytes, bytes]], memo: dict[object, Any]) -> None:
        self.connection_memo = memo
        self.verified = False
        self._headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in raw}
        self._query: dict[str, tuple[str, ...]] | None = None
        self.query = ""
        self.route_id = "orders"
        self.consumer: CompiledConsumer | None = None
        self.credential: CompiledCredential | None = None
        self.context: MutableMapping[str, Any] = {}
        self.response_headers: list[tuple[str, str]] = []
        self.set_headers: list[tuple[str, str]] = []
        self.removed: list[str] = []

    @property
    def headers(self) -> Mapping[str, str]:
        return self._headers

    def header(self, name: str) -> str | None:
        return self._headers.get(name)

    def header_values(self, name: str) -> tuple[str, ...]:
        value = self._headers.get(name)
        return (value,) if value is not None else ()

    @property
    def query_params(self) -> Mapping[str, tuple[str, ...]]:
        if self._query is None:
            self._query = {k: tuple(v) for k, v in parse_qs(self.query).items()}
        return self._query

    def authenticate(self, consumer: CompiledConsumer | None,
                     credential: CompiledCredential | None = None,
                     verified: bool = True) -> None:  # fmt: skip
        self.consumer, self.credential, self.verified = consumer, credential, verified

    def set_header(self, name: str, value: str) -> None:
        self._headers[name] = value
        self.set_headers.append((name, value))

    def remove_header(self, name: str) -> None:
        self._headers.pop(name, None)
        self.removed.append(name)

    def change_headers(self, changes: Mapping[str, str | None]) -> None:
        change_one_by_one(self, changes)

    def set_query_param(self, name: str, values: tuple[str, ...]) -> None: ...

    def remove_query_param(self, name: str) -> None: ...

    def set_body(self, body: bytes) -> None: ...

    def set_response_header(self, name: str, value: str) -> None:
        self.response_headers.append((name, value))

    def set_response_line(self, name: str, line: bytes) -> None:
        value = line[len(name) + 2 : -2]  # "name: value\r\n"
        self.response_headers.append((name, value.decode("latin-1")))

    def set_response_lines(self, names: tuple[str, ...], lines: bytes) -> None:
        for name, line in zip(names, lines.split(b"\r\n"), strict=False):
            self.set_response_line(name, line + b"\r\n")

    def add_response_header(self, name: str, value: str) -> None:
        self.response_headers.append((name, value))

    def at_end(self, callback: Callable[[], None]) -> None: ...


def chain(compiled: CompiledConfig, services: Services, *policies: tuple[str, dict[str, Any]]
          ) -> PolicyChain:  # fmt: skip
    steps = []
    for name, config in policies:
        spec = builtin_registry().get(name)
        assert spec is not None
        handler = spec.build(config)
        handler.bind(compiled, services)
        steps.append(PolicyStep(name, spec.phase, spec.priority, "bench", handler.config,
                                handler=handler))  # fmt: skip
    return prepare_chain(steps)


REPEATS = 5
"""Each figure is the best of this many runs: the machine is shared, noise only adds time."""


def per_request_sync(policy_chain: PolicyChain, requests: int) -> float:
    """µs per request of a chain whose hooks all answer synchronously (best of REPEATS)."""
    best = float("inf")
    memo: dict[object, Any] = {}  # the requests come on one keep-alive connection
    for _ in range(REPEATS):
        started = time.perf_counter()
        for _ in range(requests // REPEATS):
            exchange = LeanExchange(HEADERS, memo)
            outcome = run_request(policy_chain, exchange)
            assert outcome is None, outcome
        best = min(best, (time.perf_counter() - started) / (requests // REPEATS) * 1e6)
    return best


async def per_request_async(policy_chain: PolicyChain, requests: int, in_flight: int
                            ) -> tuple[float, float]:  # fmt: skip
    """µs per request with ``in_flight`` requests at a time: ``(wall, this process's CPU)``.
    CPU time is what limits the edge's requests/s (Redis runs elsewhere in production; here
    it shares the machine, so wall time also waits for it)."""

    memo: dict[object, Any] = {}

    async def one() -> None:
        exchange = LeanExchange(HEADERS, memo)
        outcome = run_request(policy_chain, exchange)
        if outcome is not None and not isinstance(outcome, LocalResponse):
            outcome = await outcome
        assert outcome is None, outcome

    best_wall = best_cpu = float("inf")
    per_run = requests // REPEATS
    for _ in range(REPEATS):
        started, cpu = time.perf_counter(), time.process_time()
        done = 0
        while done < per_run:
            batch = min(in_flight, per_run - done)
            await asyncio.gather(*(one() for _ in range(batch)))
            done += batch
        best_wall = min(best_wall, (time.perf_counter() - started) / per_run * 1e6)
        best_cpu = min(best_cpu, (time.process_time() - cpu) / per_run * 1e6)
    return best_wall, best_cpu


def line(label: str, micros: float, baseline: float | None = None) -> str:
    extra = f"  (+{micros - baseline:6.2f} µs over none)" if baseline is not None else ""
    share = (micros - (baseline or 0.0)) / PROXIED_US * 100
    of = f"{share:5.1f}% of a {PROXIED_US:g} µs request"
    return f"{label:<46}{micros:8.2f} µs/request{extra}  = {of}"


async def main(requests: int, redis_url: str | None) -> None:
    compiled = compile_config(config_from_dict(GATEWAY))
    local = Services()
    huge = {"rate": 1e9, "period": "second", "burst": 1_000_000_000}
    none = chain(compiled, local)
    key_auth = chain(compiled, local, ("key-auth", {}))
    both = chain(compiled, local, ("key-auth", {}), ("rate-limit", {**huge, "key": "consumer"}))
    for warm in (none, key_auth, both):
        per_request_sync(warm, 2000)
    base = per_request_sync(none, requests)
    print(line("no policies (runner + exchange)", base))
    print(line("key-auth", per_request_sync(key_auth, requests), base))
    print(line("key-auth + rate-limit (local)", per_request_sync(both, requests), base))
    server = None
    if redis_url is None:
        server = EmbeddedRedis()
        server.start()
        redis_url = server.url
    cluster_services = Services(redis_url=redis_url)
    try:
        cluster = chain(compiled, cluster_services, ("key-auth", {}),
                        ("rate-limit", {**huge, "key": "consumer", "mode": "cluster",
                                        "redis_timeout_ms": 1000}))  # fmt: skip
        await per_request_async(cluster, 2000, 64)
        count = max(5000, requests // 10)
        _, none_cpu = await per_request_async(none, count, 64)
        print(f"no policies, 64 in flight (asyncio tasks): {none_cpu:.2f} µs CPU/request")
        for in_flight in (1, 16, 64, 256):
            wall, cpu = await per_request_async(cluster, count, in_flight)
            label = f"key-auth + rate-limit (cluster), {in_flight:>3} in flight"
            print(line(label + " CPU", cpu, none_cpu) + f"  [wall {wall:7.2f} µs]")
    finally:
        await cluster_services.aclose()
        await local.aclose()
        if server is not None:
            server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--redis-url", default=None)
    arguments = parser.parse_args()
    uvloop.run(main(arguments.requests, arguments.redis_url))

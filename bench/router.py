"""Router match cost at 10, 1,000 and 10,000 routes: hits and misses, per match.

    .venv/bin/python bench/router.py [--seconds 0.5]

Each table is a realistic mixed config, compiled by the edge's own compile step (no shortcut):
template paths with typed parameters (``/svc12/v1/items/{id:int}``), prefixes, exact paths,
routes bound to exact hosts and to ``*.`` wildcard hosts, method lists, header conditions and a
few regex paths. Requests are drawn from the table (hits: each route's paths with parameters
filled in, on its host) and from outside it (misses: unknown hosts and paths no route knows;
the table has no catch-all). A lookup is what the proxy does per request: normalize the host
and path, then :meth:`Router.match`. Two routers per table: one without its answer cache
(every lookup walks the host buckets and tries: the cost that must stay flat) and the proxy's
(with the cache: 1,000 different hot requests repeated). Figures are the best of five runs of
``--seconds`` each, in microseconds per lookup; the last lines are the 10,000/10 ratios
(target: at most 2x).
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable
from typing import Any

from edgeway.common.config.loading import config_from_dict
from edgeway.edge.compile import compile_config
from edgeway.edge.routing import Router, compile_router, normalize_host, normalize_path

SIZES = (10, 1_000, 10_000)
UUID = "123e4567-e89b-12d3-a456-426614174000"


class Request:
    """The header and query conditions a route may ask about."""

    def __init__(self, headers: dict[str, str]) -> None:
        self.headers = headers

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    def query_param(self, name: str) -> str | None:
        return None


def table(size: int) -> tuple[dict[str, Any], list[tuple[str, str, str, Request]]]:
    """A config with ``size`` routes, and one request that hits each route."""
    rng = random.Random(size)
    routes: list[dict[str, Any]] = []
    hits: list[tuple[str, str, str, Request]] = []
    plain = Request({})
    for n in range(size):
        kind = n % 10
        route: dict[str, Any] = {"id": f"r{n}", "mock": {"status": 200}}
        host, method, request = "api.example.com", "GET", plain
        if kind in (0, 1, 2):  # a template with typed parameters
            route["paths"] = [f"/svc{n}/v1/items/{{id:int}}",
                              f"/svc{n}/v1/items/{{id:int}}/{{part}}"]
            path = f"/svc{n}/v1/items/{rng.randrange(10**6)}/details"
        elif kind == 3:  # a uuid parameter and a catch-all
            route["paths"] = [f"/files{n}/{{owner:uuid}}/{{rest:path}}"]
            path = f"/files{n}/{UUID}/a/b/c.txt"
        elif kind == 4:  # a prefix
            route["paths"] = [f"/team{n}/static"]
            path = f"/team{n}/static/js/app.{n}.js"
        elif kind == 5:  # an exact path with methods
            route.update(paths=[f"/health{n}"], path_match="exact", methods=["GET", "HEAD"])
            path = f"/health{n}"
        elif kind == 6:  # an exact host
            host = f"tenant{n}.example.com"
            route.update(hosts=[host], paths=["/"])
            path = f"/orders/{n}"
        elif kind == 7:  # a wildcard host
            route.update(hosts=[f"*.zone{n}.example.net"], paths=["/v2"])
            host, path = f"eu.zone{n}.example.net", f"/v2/things/{n}"
        elif kind == 8:  # a header condition and a priority
            route.update(paths=[f"/beta{n}"], priority=5,
                         headers=[{"name": "x-beta", "values": ["1"]}])
            path, request = f"/beta{n}/feature", Request({"x-beta": "1"})
        else:  # POST-only, with a shared prefix
            route.update(paths=[f"/shop/{n}/cart"], methods=["POST"])
            path, method = f"/shop/{n}/cart", "POST"
        routes.append(route)
        hits.append((host, method, path, request))
    routes.append({"id": "legacy", "paths": ["^/legacy/(?P<id>[0-9]+)$"], "path_match": "regex",
                   "mock": {"status": 200}})
    hits.append(("api.example.com", "GET", "/legacy/42", plain))
    return {"routes": routes}, hits


def misses(size: int) -> list[tuple[str, str, str, Request]]:
    rng = random.Random(-size)
    plain = Request({})
    found = []
    for n in range(1000):
        shape = n % 4
        if shape == 0:
            found.append(("unknown.example.org", "GET", f"/nothing/{n}", plain))
        elif shape == 1:  # a known prefix, an unknown rest
            found.append(("api.example.com", "GET", f"/svc{rng.randrange(size)}/v2/x", plain))
        elif shape == 2:  # a wrong parameter type
            found.append(("api.example.com", "GET", f"/svc{n % max(size, 1)}/v1/items/abc",
                          plain))
        else:  # a wrong method
            found.append(("api.example.com", "DELETE", f"/shop/{n}/cart/x", plain))
    return found


def per_lookup(router: Router, requests: list[tuple[str, str, str, Request]], seconds: float,
               expect_hit: bool) -> float:
    """Microseconds per normalize + match, best of five runs."""
    for host, method, path, request in requests:
        hit = router.match(normalize_host(host), method, normalize_path(path), request)
        if (hit is not None) != expect_hit:
            wanted = "hit" if expect_hit else "miss"
            raise AssertionError(f"{method} {host}{path}: expected a {wanted}")
    match: Callable[..., object] = router.match
    best = float("inf")
    for _ in range(5):
        count = 0
        started = time.perf_counter()
        deadline = started + seconds
        while time.perf_counter() < deadline:
            for host, method, path, request in requests:
                match(normalize_host(host), method, normalize_path(path), request)
            count += len(requests)
        best = min(best, (time.perf_counter() - started) / count * 1e6)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=0.5)
    args = parser.parse_args()
    rows: list[tuple[int, float, float, float, float, float]] = []
    for size in SIZES:
        data, hits = table(size)
        started = time.perf_counter()
        compiled = compile_config(config_from_dict(data))
        walking = compile_router(compiled, cache_size=0)
        build_ms = (time.perf_counter() - started) * 1000
        cached = compile_router(compiled)
        sample = random.Random(1).sample(hits, min(len(hits), 1000))
        absent = misses(size)
        rows.append((size, per_lookup(walking, sample, args.seconds, True),
                     per_lookup(walking, absent, args.seconds, False),
                     per_lookup(cached, sample, args.seconds, True),
                     per_lookup(cached, absent, args.seconds, False), build_ms))
    print(f"{'':>8}{'-- trie walk --':>20}{'-- with cache --':>20}")
    print(f"{'routes':>8}{'hit us':>10}{'miss us':>10}{'hit us':>10}{'miss us':>10}"
          f"{'compile ms':>12}")
    for size, *figures, build in rows:
        print(f"{size:>8,}" + "".join(f"{value:>10.2f}" for value in figures) + f"{build:>12.0f}")
    small, large = rows[0], rows[-1]
    ratios = [large[i] / small[i] for i in range(1, 5)]
    print(f"10,000 / 10 routes, trie walk: hits {ratios[0]:.2f}x, misses {ratios[1]:.2f}x; "
          f"with cache: hits {ratios[2]:.2f}x, misses {ratios[3]:.2f}x (target <= 2x)")


if __name__ == "__main__":
    main()

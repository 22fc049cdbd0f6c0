"""Edge requests/s with key-auth + rate-limit (local, then cluster through Redis) vs no policies.

    .venv/bin/python bench/policies_edge.py [--seconds 3] [--runs 5] [--connections 64]
                                            [--baseline-root DIR]

Needs the Debian packages ``wrk`` and ``nginx`` and ``redis-server``. What runs:

- the upstream is nginx serving a small static response (one worker), never the bottleneck;
- real ``edgeway edge --config`` processes, one worker each, with the route table of
  ``bench/proxy.py`` (80 routes) and 1,000 key-auth consumers, the JSON access log on (to
  /dev/null), tracing off; the benchmarked route has either no policies, or ``key-auth`` +
  ``rate-limit`` keyed by consumer in ``local`` mode, or the same in ``cluster`` mode against
  a real ``redis-server`` (``--redis``). The limit is high enough to admit every request (the
  common case: each request checks its bucket and gets its RateLimit-* headers). ``cluster``
  has a burst of 10^9, so the edge takes leases of 10^6 tokens from Redis and admits most
  requests from them (docs/policies.md, rate-limit); ``exact`` has a burst of 1,999 (refilled
  at 10^9/s, so it never runs out), under the 2,000 that leases start at: every request is an
  ``EVALSHA``;
- ``--baseline-root DIR``: also an edge run from another checkout (``PYTHONPATH=DIR``, e.g.
  ``git archive <commit> | tar -x -C DIR``) serving the no-policies config, to compare the
  proxy's own speed before and after a change.

Pinning on 2+ cores: wrk, the upstream nginx and Redis on core 0, the edges on core 1 (one at a
time is loaded; idle ones cost nothing). wrk alternates between the edges run after run (a
round: each edge once); each figure in the table is the median of ``--runs`` runs. Every round
starts fresh edge processes: processes running the same code differ here persistently (four
identical edges, five rounds: medians from 33.7k to 37.6k req/s), which would otherwise bias
every run of a config alike. The cost
against a target is the median over the rounds of ``1 - policies / none``, ``none`` being the
mean of the no-policy runs just before and after (that edge runs once more, closing the last
round), with the lowest and highest round: this machine's speed drifts within tens of seconds
by more than the policies cost, and the runs on either side cancel a steady drift. Every
process started here is stopped by its PID.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from proxy import bracketed, free_port, pinned, stop, wait_port  # bench/proxy.py: same helpers

from edgeway.edge import native

ROOT = Path(__file__).resolve().parents[1]
EDGEWAY = str(Path(sys.executable).parent / "edgeway")
PATH = "/api/v1/users/42/orders"
BODY = "ok-" + "x" * 61
KEY_HEADER = "apikey: key-7"
POLICIES = {
    "none": "",
    "local": "key-auth + rate-limit local",
    "cluster": "key-auth + rate-limit cluster (Redis)",
    "exact": "key-auth + rate-limit cluster, no leases",
}


def edge_config(upstream: int, mode: str) -> str:
    """bench/proxy.py's route table; the benchmarked route with the policies of ``mode``."""
    lines = ["consumers:"]
    lines += [f'  - {{name: c{i}, credentials: [{{type: key-auth, key: "key-{i}"}}]}}'
              for i in range(1000)]  # fmt: skip
    lines += ["upstreams:", "  - name: backend",
              f'    targets: [{{address: "127.0.0.1:{upstream}"}}]', "routes:"]
    for index in range(40):
        lines += [f"  - id: svc-{index}", f'    paths: ["/svc{index}/v1/items/{{id:int}}"]',
                  "    upstream: backend"]
        lines += [f"  - id: host-{index}", f'    hosts: ["t{index}.example.com"]',
                  '    paths: ["/"]', "    upstream: backend"]
    lines += ["  - id: users", '    paths: ["/api/v1/users/{id}/orders"]', "    upstream: backend"]
    if mode != "none":
        burst = 1999 if mode == "exact" else 1_000_000_000  # under 2,000: no leases
        lines += ["    policies:", "      - name: key-auth", "      - name: rate-limit",
                  f"        config: {{rate: 1000000000, burst: {burst}, key: consumer, "
                  f"mode: {'local' if mode == 'local' else 'cluster'}}}"]  # fmt: skip
    lines += ["  - id: api", '    paths: ["/api"]', "    upstream: backend"]
    return "\n".join(lines) + "\n"


class Edge:
    """One ``edgeway edge`` process serving ``mode``'s config (see the module docstring)."""

    def __init__(self, name: str, mode: str, upstream: int, folder: Path, cpus: str | None,
                 redis_url: str | None, root: Path | None = None) -> None:  # fmt: skip
        self.name, self.mode, self.port = name, mode, free_port()
        config = folder / f"{name}.yaml"
        config.write_text(edge_config(upstream, mode))
        env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
        if root is not None:
            env["PYTHONPATH"] = str(root)
        argv = [EDGEWAY, "edge", "--config", str(config), "--stage", "bench",
                "--listen", f"127.0.0.1:{self.port}", "--admin-listen",
                f"127.0.0.1:{free_port()}", "--data-dir", str(folder / f"{name}-data"),
                "--access-log", "--log-level", "warning"]  # fmt: skip
        if redis_url and mode in ("cluster", "exact"):
            argv += ["--redis", redis_url]
        with open(os.devnull, "wb") as devnull:
            self.process = subprocess.Popen(pinned(cpus, argv), stdout=devnull,
                                            stderr=subprocess.DEVNULL, env=env, cwd=folder)
        wait_port(self.port, self.process, timeout=30.0)


def wrk(port: int, connections: int, seconds: float, cpus: str | None) -> tuple[float, float]:
    """``(requests/s, p99 µs)`` of one wrk run."""
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency",
            "-H", KEY_HEADER, "--timeout", "5s", f"http://127.0.0.1:{port}{PATH}"]
    text = subprocess.run(pinned(cpus, argv), capture_output=True, text=True,
                          timeout=seconds + 30, check=True).stdout  # fmt: skip
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    p99 = re.search(r"^\s*99%\s+([\d.]+)(us|ms|s)\s*$", text, re.MULTILINE)
    if rps is None or p99 is None:
        raise RuntimeError(f"unexpected wrk output:\n{text}")
    if errors is not None:
        raise RuntimeError(f"{errors.group(1)} error responses:\n{text}")
    scale = {"us": 1.0, "ms": 1000.0, "s": 1e6}[p99.group(2)]
    return float(rps.group(1)), float(p99.group(1)) * scale


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--baseline-root", type=Path, default=None,
                        help="another checkout whose no-policies edge is measured too")
    args = parser.parse_args()
    missing = [t for t in ("wrk", "nginx", "taskset", "redis-server") if not shutil.which(t)]
    if missing:
        sys.exit(f"bench/policies_edge.py needs {', '.join(missing)} (Debian packages wrk, "
                 "nginx, redis-server)")
    sys.path.insert(0, str(ROOT))
    from tests.support.redis import EmbeddedRedis

    pin = (os.cpu_count() or 1) >= 2
    near, far = ("0", "1") if pin else (None, None)
    if pin:
        os.sched_setaffinity(0, {0})  # this script, Redis and nginx stay off the edges' core
    processes: list[subprocess.Popen[bytes]] = []
    results: dict[str, list[tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="edgeway-bench-") as temp, EmbeddedRedis() as redis:
        folder = Path(temp)
        upstream = free_port()
        conf = folder / "nginx.conf"
        conf.write_text(
            f"worker_processes 1; daemon off; pid {folder}/nginx.pid; "
            f"error_log {folder}/error.log warn; events {{ worker_connections 4096; }} "
            f"http {{ access_log off; keepalive_requests 1000000; server {{ listen "
            f"127.0.0.1:{upstream} backlog=4096; location / {{ default_type text/plain; "
            f'return 200 "{BODY}"; }} }} }}\n')  # fmt: skip
        (folder / "logs").mkdir()
        nginx = subprocess.Popen(pinned(near, ["nginx", "-p", str(folder), "-c", str(conf)]),
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        processes.append(nginx)
        try:
            wait_port(upstream, nginx, timeout=30.0)
            for index in range(args.runs):
                edges = [Edge(mode, mode, upstream, folder, far, redis.url) for mode in POLICIES]
                if args.baseline_root is not None:
                    edges.insert(0, Edge("baseline", "none", upstream, folder, far, None,
                                         args.baseline_root.resolve()))  # fmt: skip
                processes += [edge.process for edge in edges]
                for edge in edges:
                    wrk(edge.port, args.connections, 1, near)  # warm-up
                for edge in edges:
                    results.setdefault(edge.name, []).append(
                        wrk(edge.port, args.connections, args.seconds, near))
                if index == args.runs - 1:  # the no-policy edge once more, closing the round
                    none = next(edge for edge in edges if edge.name == "none")
                    results["none"].append(wrk(none.port, args.connections, args.seconds, near))
                for edge in edges:  # fresh processes every round (see the module docstring)
                    stop(edge.process)
        finally:
            for process in reversed(processes):
                stop(process, signal.SIGQUIT if process is nginx else signal.SIGTERM)
    report(results, args, pin)


def report(results: dict[str, list[tuple[float, float]]], args: argparse.Namespace,
           pin: bool) -> None:  # fmt: skip
    medians = {name: sorted(runs)[len(runs) // 2] for name, runs in results.items()}
    base = medians["none"][0]
    print(f"wrk: median of {args.runs} runs of {args.seconds:g}s, {args.connections} "
          f"connections, GET {PATH} with '{KEY_HEADER}'; one-worker edges"
          + (" on core 1 (wrk, nginx, Redis on core 0)" if pin else " (no pinning)"))
    print(f"edge data path: {native.status()} (edgeway native status)")
    print("edge: 81 routes, 1000 consumers, access log to /dev/null, tracing off\n")
    print(f"{'edge':<48}{'req/s':>10}{'p99 us':>9}{'us/req':>9}{'cost':>8}")
    for name, (rps, p99) in medians.items():
        label = POLICIES.get(name, "") or "no policies"
        if name == "baseline":
            label = f"no policies, {args.baseline_root} (before)"
        share = "" if name in ("none", "baseline") else f"{1 - rps / base:.1%}"
        print(f"{label:<48}{rps:>10.0f}{p99:>9.0f}{1e6 / rps:>9.1f}{share:>8}")
    print()
    rounds = [rps for rps, _ in results["none"]]
    for name, target in (("local", 0.15), ("cluster", 0.40), ("exact", 0.40)):
        cost = 1 - medians[name][0] / base
        mid, low, high = bracketed([rps for rps, _ in results[name]], rounds)
        print(f"{POLICIES[name]}: {1 - mid:.1%} of the edge's req/s, median of the "
              f"{len(results[name])} rounds' costs against the no-policy runs around them "
              f"(rounds {1 - high:.1%} to {1 - low:.1%}; by the medians "
              f"above {cost:.1%}, +{1e6 / medians[name][0] - 1e6 / base:.1f} us/request; "
              f"target <= {target:.0%})")  # fmt: skip
    if "baseline" in medians:
        change = medians["none"][0] / medians["baseline"][0] - 1
        print(f"no policies, this checkout vs the baseline: {change:+.1%} req/s")


if __name__ == "__main__":
    main()

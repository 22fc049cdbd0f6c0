"""Edge requests/s and latency with no plugin, a no-op OnRequest plugin, the authorizer cached.

    .venv/bin/python bench/plugins_edge.py [--seconds 3] [--runs 5] [--connections 64]
                                           [--configs none,noop,authorizer]

Needs the Debian packages ``wrk`` and ``nginx``. Issue 6's benchmark of out-of-process plugins.
What runs:

- one nginx (one worker) is the upstream, serving a small static body, and the authorizer's
  RFC 7662 introspection endpoint (a static ``{"active": true, ...}``, its calls logged so the
  cache hits can be counted);
- real ``edgeway edge --config`` processes, one worker each, with the route table of
  ``bench/proxy.py``, the JSON access log on (to /dev/null), tracing off. The benchmarked route
  has no policy (``none``), or the no-op plugin ``bench/noop_plugin.py`` (``noop``, no verdict
  cache: every request is a call), or the contrib ``authorizer`` with ``cache_ttl_ms: 60000``
  (``authorizer``: the first request introspects, the others are verdict-cache hits). Each
  plugin is a real process (``--listen 127.0.0.1:PORT``), fail-closed;
- wrk sends every request with the same ``Authorization: Bearer`` header (the authorizer's
  declared cache key), whatever the config, so the requests are alike.

Before measuring, a request through each edge must answer 200, and the plugin must be seen
working: the authorizer's principal reaches the upstream, the no-op plugin spends CPU during the
warm-up. Otherwise the script stops with what it got (the edge did not call the plugin).

Pinning on 2 cores: req/s at ``--connections`` with wrk, nginx and the plugin processes on
core 0 and the edges on core 1 (one edge is loaded at a time; the idle ones cost nothing). The
plugin needs CPU of its own and a plugin is a separate service in production, so it stays off
the edge's core; it shares core 0 with wrk and nginx, and the busy share of core 0 is printed
so a run limited by core 0 rather than the edge shows. With 3 cores or more the plugins get
core 2 alone. Latency at one connection: every process on core 0 (re-pinned, as in
``bench/proxy.py``), so no request waits for an idle core to wake up and the p50 added is the
work of the round trip. wrk alternates between the edges run after run (a round: each edge
once); each figure in the table is from the median run (by req/s) of ``--runs``. Every round
starts fresh edge and plugin processes: processes running the same code differ here
persistently (four identical edges, five rounds: medians from 33.7k to 37.6k req/s), which
would otherwise bias every run of a config alike. The share of
the no-plugin req/s held against a target is the median over the rounds of each run's ratio to
the mean of the no-plugin runs just before and after it (the no-plugin edge runs once more,
closing the last round), with the lowest and highest round: this machine's speed drifts within
tens of seconds by more than the difference measured, and the runs on either side cancel a
steady drift that a ratio to the run before alone would carry. ``--latency-pinning split`` keeps
the req/s pinning for the one-connection runs instead (edge and plugin on their own cores, as
they would be on separate machines, at the price of idle-core wake-ups). Targets are printed
next to the figures, never asserted. Every process started here is stopped by its PID.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import proxy  # bench/proxy.py: the route table and the process helpers
from proxy import bracketed, family, free_port, pinned, repin, stop, wait_port

from edgeway.edge import native

ROOT = Path(__file__).resolve().parents[1]
EDGEWAY = str(Path(sys.executable).parent / "edgeway")
PATH = "/api/v1/users/42/orders"
CHECK_PATH = "/api/v1/users/0/orders"  # the upstream answers with the x-principal it got
BODY = "ok-" + "x" * 61
TOKEN = "bench-token-0123456789abcdef"
AUTH_HEADER = f"Authorization: Bearer {TOKEN}"
PRINCIPAL = "bench-user"
CONFIGS = {
    "none": "no plugin",
    "noop": "no-op plugin (every request a call)",
    "authorizer": "authorizer, verdict-cache hit",
}
SCRIPTS = {
    "noop": ROOT / "bench" / "noop_plugin.py",
    "authorizer": ROOT / "plugins-contrib" / "authorizer" / "authorizer.py",
}
TICK_US = 1e6 / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Sample:
    """One wrk run and the CPU spent meanwhile."""

    rps: float
    p50_us: float
    p99_us: float
    edge_us: float  # edge CPU per request
    plugin_us: float  # plugin process CPU per request
    busy: tuple[float, float]  # busy share of cores 0 and 1 (whatever ran there)


def edge_config(upstream: int, mode: str, plugin_port: int) -> str:
    """bench/proxy.py's route table (82 routes); its benchmarked route ``users`` calls
    ``mode``'s plugin, fail-closed."""
    table = proxy.edge_config(upstream)
    if mode == "none":
        return table
    users = '  - id: users\n    paths: ["/api/v1/users/{id}/orders"]\n    upstream: backend\n'
    if users not in table:
        raise RuntimeError("bench/proxy.py's route table has no route users any more")
    url = f"http://127.0.0.1:{upstream}/introspect"
    settings, instance = {
        "noop": ("timeout_ms: 200", "{name: noop}"),
        "authorizer": ("timeout_ms: 1500, cache_ttl_ms: 60000",
                       f'{{name: authorizer, config: {{introspection_url: "{url}"}}}}'),
    }[mode]  # fmt: skip
    plugins = (f'plugins:\n  - {{name: {mode}, endpoints: ["127.0.0.1:{plugin_port}"], '
               f"{settings}, failure_mode: closed}}\n")  # fmt: skip
    return plugins + table.replace(users, f"{users}    policies: [{instance}]\n")


def nginx_config(folder: Path, port: int) -> str:
    claims = f'{{"active": true, "sub": "{PRINCIPAL}", "scope": "read"}}'
    return (
        f"worker_processes 1; daemon off; pid {folder}/nginx.pid; "
        f"error_log {folder}/error.log warn; events {{ worker_connections 4096; }} "
        f"http {{ access_log off; keepalive_requests 1000000; server {{ listen "
        f"127.0.0.1:{port} backlog=4096; "
        f'location / {{ default_type text/plain; return 200 "{BODY}"; }} '
        f"location = {CHECK_PATH} {{ default_type text/plain; "
        f'return 200 "principal=$http_x_principal"; }} '
        f"location = /introspect {{ access_log {folder}/introspect.log; "
        f"default_type application/json; return 200 '{claims}'; }} }} }}\n"
    )  # fmt: skip


def start(name: str, argv: list[str], port: int, folder: Path,
          processes: list[subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:  # fmt: skip
    """Start ``argv`` (stdout to /dev/null, stderr to a file), wait for ``port``; exit with
    the end of its stderr when it dies first. Tracing stays off (no OTEL_* variables)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    errors = folder / f"{name}.stderr"
    with open(os.devnull, "wb") as devnull, errors.open("wb") as stderr:
        process = subprocess.Popen(argv, stdout=devnull, stderr=stderr, env=env, cwd=folder)
    processes.append(process)
    try:
        wait_port(port, process, timeout=30.0)
    except RuntimeError as exc:
        tail = "\n".join(errors.read_text(errors="replace").splitlines()[-15:])
        sys.exit(f"{name} did not start ({exc}); its stderr ends with:\n{tail}")
    return process


class Edge:
    """One ``edgeway edge`` process serving ``mode``'s config, and its plugin process."""

    def __init__(
        self,
        mode: str,
        upstream: int,
        folder: Path,
        cpus: str | None,
        plugin_cpus: str | None,
        processes: list[subprocess.Popen[bytes]],
    ) -> None:
        self.mode, self.port = mode, free_port()
        self.plugin: subprocess.Popen[bytes] | None = None
        plugin_port = free_port()
        if mode in SCRIPTS:
            argv = [sys.executable, str(SCRIPTS[mode]), "--listen", f"127.0.0.1:{plugin_port}"]
            self.plugin = start(f"{mode}-plugin", pinned(plugin_cpus, argv), plugin_port,
                                folder, processes)  # fmt: skip
        config = folder / f"{mode}.yaml"
        config.write_text(edge_config(upstream, mode, plugin_port))
        argv = [EDGEWAY, "edge", "--config", str(config), "--stage", "bench",
                "--listen", f"127.0.0.1:{self.port}", "--admin-listen",
                f"127.0.0.1:{free_port()}", "--data-dir", str(folder / f"{mode}-data"),
                "--access-log", "--log-level", "warning"]  # fmt: skip
        self.process = start(f"{mode}-edge", pinned(cpus, argv), self.port, folder, processes)

    def get(self, path: str) -> tuple[int, str]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request("GET", path, headers={"Authorization": f"Bearer {TOKEN}"})
            answer = connection.getresponse()
            return answer.status, answer.read().decode(errors="replace")
        finally:
            connection.close()

    def check(self) -> None:
        """Exit unless the edge answers 200 through its plugin (see the module docstring)."""
        status, body = self.get(PATH)
        if status != 200:
            sys.exit(f"{self.mode}: the edge did not call the plugin: got {status} "
                     f"{body.strip()[:300]}")  # fmt: skip
        if self.mode == "authorizer":
            status, body = self.get(CHECK_PATH)
            if (status, body) != (200, f"principal={PRINCIPAL}"):
                sys.exit(f"authorizer: the upstream did not get the plugin's principal header "
                         f"(got {status} {body.strip()[:300]!r}): the edge did not apply the "
                         "plugin's verdict")  # fmt: skip

    def stop(self) -> None:
        stop(self.process)
        if self.plugin is not None:
            stop(self.plugin)

    def pin(self, cpus: str | None, plugin_cpus: str | None) -> None:
        repin(self.process.pid, cpus)
        if self.plugin is not None:
            repin(self.plugin.pid, plugin_cpus)


def cpu_ticks(pid: int | None) -> int:
    """utime + stime of ``pid`` and its descendants (0 for ``None``)."""
    total = 0
    for member in family(pid) if pid is not None else []:
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total


def core_ticks() -> list[tuple[int, int]]:
    """``(busy, total)`` ticks of cores 0 and 1 from /proc/stat (steal is not busy)."""
    found = {}
    for line in Path("/proc/stat").read_text().splitlines():
        name, *fields = line.split()
        if name in ("cpu0", "cpu1"):
            values = [int(v) for v in fields[:8]]  # user nice system idle iowait irq softirq steal
            found[name] = (sum(values) - values[3] - values[4] - values[7], sum(values))
    return [found.get(name, (0, 1)) for name in ("cpu0", "cpu1")]


def latency(text: str, label: str) -> float:
    found = re.search(rf"^\s*{label}\s+([\d.]+)(us|ms|s)\s*$", text, re.MULTILINE)
    if found is None:
        raise RuntimeError(f"no {label} latency in wrk's output:\n{text}")
    return float(found.group(1)) * {"us": 1.0, "ms": 1000.0, "s": 1e6}[found.group(2)]


def wrk(edge: Edge, connections: int, seconds: float, cpus: str | None) -> Sample:
    """One wrk run against ``edge``, with the CPU the edge and its plugin spent meanwhile."""
    argv = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--latency",
        "-H",
        AUTH_HEADER,
        "--timeout",
        "5s",
        f"http://127.0.0.1:{edge.port}{PATH}",
    ]
    plugin_pid = edge.plugin.pid if edge.plugin is not None else None
    edge_before, plugin_before = cpu_ticks(edge.process.pid), cpu_ticks(plugin_pid)
    cores_before = core_ticks()
    text = subprocess.run(pinned(cpus, argv), capture_output=True, text=True,
                          timeout=seconds + 30, check=True).stdout  # fmt: skip
    cores_after = core_ticks()
    edge_cpu = (cpu_ticks(edge.process.pid) - edge_before) * TICK_US
    plugin_cpu = (cpu_ticks(plugin_pid) - plugin_before) * TICK_US
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    count = re.search(r"(\d+) requests in", text)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if rps is None or count is None:
        raise RuntimeError(f"unexpected wrk output:\n{text}")
    if errors is not None:
        raise RuntimeError(f"{edge.mode}: {errors.group(1)} error responses:\n{text}")
    requests = max(1, int(count.group(1)))
    return Sample(
        float(rps.group(1)),
        latency(text, "50%"),
        latency(text, "99%"),
        edge_cpu / requests,
        plugin_cpu / requests,
        busy(cores_before, cores_after),
    )


def busy(before: list[tuple[int, int]], after: list[tuple[int, int]]) -> tuple[float, float]:
    zero, one = ((b[0] - a[0]) / max(1, b[1] - a[1]) for a, b in zip(before, after, strict=True))
    return zero, one


def median(samples: list[Sample]) -> Sample:
    return sorted(samples, key=lambda sample: sample.rps)[len(samples) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="length of each wrk run")
    parser.add_argument("--runs", type=int, default=5, help="wrk runs per figure (median)")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--latency-pinning", choices=("shared", "split"), default="shared",
                        help="1-connection runs: every process on core 0 (shared), or pinned "
                        "as for req/s, the plugin apart from the edge (split)")
    parser.add_argument(
        "--configs",
        default=",".join(CONFIGS),
        help="comma-separated subset of none,noop,authorizer (none is kept)",
    )
    args = parser.parse_args()
    unknown = set(args.configs.split(",")) - set(CONFIGS)
    if unknown:
        parser.error(f"unknown configs: {', '.join(sorted(unknown))}")
    modes = ["none", *(m for m in args.configs.split(",") if m != "none")]
    missing = [t for t in ("wrk", "nginx", "taskset") if not shutil.which(t)]
    if missing:
        sys.exit(
            f"bench/plugins_edge.py needs {', '.join(missing)}: install the Debian "
            "packages (apt-get update && apt-get install -y wrk nginx)"
        )
    cores = os.cpu_count() or 1
    pin = cores >= 2
    near, far = ("0", "1") if pin else (None, None)
    plug = "2" if cores >= 3 else near
    if pin:
        os.sched_setaffinity(0, {0})  # this script and nginx stay off the edges' core
    processes: list[subprocess.Popen[bytes]] = []
    loaded: dict[str, list[Sample]] = {mode: [] for mode in modes}
    single: dict[str, list[Sample]] = {mode: [] for mode in modes}
    with tempfile.TemporaryDirectory(prefix="edgeway-bench-") as temp:
        folder = Path(temp)
        upstream = free_port()
        conf = folder / "nginx.conf"
        conf.write_text(nginx_config(folder, upstream))
        (folder / "logs").mkdir()
        nginx = subprocess.Popen(
            pinned(near, ["nginx", "-p", str(folder), "-c", str(conf)]),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        processes.append(nginx)
        try:
            wait_port(upstream, nginx, timeout=30.0)

            def fresh() -> list[Edge]:
                """New edge and plugin processes, checked and warmed up."""
                edges = [Edge(mode, upstream, folder, far, plug, processes) for mode in modes]
                for edge in edges:
                    edge.check()
                    warm = wrk(edge, args.connections, 1, near)  # warm-up
                    if edge.mode == "noop" and warm.plugin_us < 5:
                        sys.exit(
                            f"noop: the edge did not call the plugin: the plugin process spent "
                            f"{warm.plugin_us:.1f} us of CPU per request during the warm-up"
                        )
                return edges

            for index in range(args.runs):
                edges = fresh()  # every round (see the module docstring)
                for edge in edges:
                    loaded[edge.mode].append(wrk(edge, args.connections, args.seconds, near))
                if index == args.runs - 1:  # the no-plugin edge once more (see bracketed())
                    loaded["none"].append(wrk(edges[0], args.connections, args.seconds, near))
                for edge in edges:
                    edge.stop()
            edges = fresh()
            for edge in edges:
                if args.latency_pinning == "shared":
                    edge.pin(near, near)
            for _ in range(args.runs):
                for edge in edges:
                    single[edge.mode].append(wrk(edge, 1, args.seconds, near))
            for edge in edges:
                edge.pin(far, plug)
        finally:
            for process in reversed(processes):
                stop(process, signal.SIGQUIT if process is nginx else signal.SIGTERM)
        log = folder / "introspect.log"
        introspections = len(log.read_text().splitlines()) if log.exists() else 0
    report({m: (median(loaded[m]), median(single[m])) for m in modes}, loaded, args, pin, plug,
           introspections)  # fmt: skip


def report(medians: dict[str, tuple[Sample, Sample]], rounds: dict[str, list[Sample]],
           args: argparse.Namespace, pin: bool, plug: str | None, introspections: int
           ) -> None:  # fmt: skip
    (base, base_one), routes = medians["none"], edge_config(0, "none", 0).count("- id:")
    print(f"wrk: median of {args.runs} runs of {args.seconds:g}s; {args.connections} "
          f"connections for req/s, 1 for latency; GET {PATH} with '{AUTH_HEADER}'")  # fmt: skip
    print("pinning: " + (f"req/s: wrk + nginx on core 0, plugins on core {plug}, one-worker "
                         "edges on core 1; 1-connection latency: all on core 0"
                         if pin else "none (one core)"))  # fmt: skip
    print(f"edge data path: {native.status()} (edgeway native status)")
    print(f"edge: {routes} routes, access log to /dev/null, tracing off; plugins fail-closed\n")
    head = (f"{'config':<34}{'req/s':>9}{'p50 us':>8}{'p99 us':>8}{'1c p50':>8}{'1c p99':>8}"
            f"{'edge cpu':>10}{'plugin cpu':>12}{'busy':>10}{'req/s vs none':>15}")  # fmt: skip
    print(f"{head}\n{'':<66}{'us/req':>10}{'us/req':>12}{'c0/c1':>10}\n{'-' * len(head)}")
    for mode, (many, one) in medians.items():
        share, plugin = ("", "") if mode == "none" else \
            (f"{many.rps / base.rps:.1%}", f"{many.plugin_us:.1f}")  # fmt: skip
        print(f"{CONFIGS[mode]:<34}{many.rps:>9.0f}{many.p50_us:>8.0f}{many.p99_us:>8.0f}"
              f"{one.p50_us:>8.0f}{one.p99_us:>8.0f}{many.edge_us:>10.1f}{plugin:>12}"
              f"{many.busy[0]:>6.0%}/{many.busy[1]:<3.0%}{share:>15}")  # fmt: skip
    print()
    for mode, target in (("noop", 0.5), ("authorizer", 0.9)):
        if mode not in medians:
            continue
        many, one = medians[mode]
        mid, low, high = bracketed([s.rps for s in rounds[mode]],
                                   [s.rps for s in rounds["none"]])
        print(f"{CONFIGS[mode]}: {mid:.1%} of the no-plugin req/s, median of the "
              f"{len(rounds[mode])} rounds' ratios to the no-plugin runs around them (rounds "
              f"{low:.1%} to {high:.1%}; by the "
              f"medians above {many.rps / base.rps:.1%}; target >= {target:.0%}); by edge CPU per "
              f"request {base.edge_us / many.edge_us:.1%}; "
              f"{one.p50_us - base_one.p50_us:+.0f} us at p50, one connection"
              + (" (target < +500 us)" if mode == "noop" else ""))  # fmt: skip
    if "noop" in medians:
        many, one = medians["noop"]
        print(f"per-call overhead of a plugin round trip: {1e6 / many.rps - 1e6 / base.rps:.1f} "
              f"us of edge time per request at {args.connections} connections (1/req/s no-op - "
              f"1/req/s none), edge CPU {many.edge_us - base.edge_us:+.1f} us/request; "
              f"{one.p50_us - base_one.p50_us:+.0f} us at p50, one connection; the plugin "
              f"process {many.plugin_us:.1f} us of CPU per call")  # fmt: skip
    if "authorizer" in medians:
        print(f"authorizer: {introspections} introspection call(s) in the whole run, a first one "
              "per authorizer edge started (the other "
              "requests were verdict-cache hits)")  # fmt: skip
    print("busy c0/c1: cores 0 (wrk, nginx, plugins) and 1 (the edge) in the median run, "
          "whatever ran there; core 0 near 100% means req/s was limited by core 0, not only by "
          "the edge: then compare edge CPU per request")  # fmt: skip


if __name__ == "__main__":
    main()

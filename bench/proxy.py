"""Proxy throughput and latency: wrk direct, through nginx, through the edge (1 and 2 workers).

    .venv/bin/python bench/proxy.py [--seconds 3] [--runs 3] [--connections 64]
                                    [--trace-ratio 0.01]

Needs the Debian packages ``wrk`` and ``nginx`` (``apt-get install -y wrk nginx``). In one run:

- the upstream is nginx itself serving a small static response (its own prefix, one worker),
  so the upstream is never the bottleneck;
- nginx as a reverse proxy (``proxy_pass`` to a keep-alive ``upstream`` block) and a real
  ``edgeway edge --config`` process run in turn in front of it, each with 1 and then 2 workers;
- the edge serves a realistic route table (prefixes, templates, hosts) with the JSON access
  log on (to /dev/null) and tracing on: the OpenTelemetry SDK with a parent-based ratio
  sampler (``--trace-ratio``) exporting over OTLP to an in-process receiver; the W3C trace
  context is always propagated to the upstream.

Pinning (``taskset``) on a machine with 2 cores or more, the same for nginx and the edge:

- throughput (``--connections`` connections): the upstream nginx and wrk share core 0; a
  1-worker proxy gets core 1 alone; 2-worker proxies run on cores 0-1;
- latency (one connection): every process on core 0 (the proxy is re-pinned there, children
  included), so a request never waits for an idle core to wake up; p50 minus the direct p50
  is the latency the proxy adds.

nginx and the edge with the same worker count run side by side (the idle one costs nothing)
and wrk alternates between them, run after run, so a slow spell of a shared or virtual machine
hits both alike. Each figure is the median of ``--runs`` wrk runs of ``--seconds`` each (the
p50/p99 shown are those of the median run). Every run stops by itself; every process started
here is stopped by its PID.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from edgeway.edge import native

ROOT = Path(__file__).resolve().parents[1]
EDGEWAY = str(Path(sys.executable).parent / "edgeway")
BODY = "ok-" + "x" * 61  # a 64-byte response body
PATH = "/api/v1/users/42/orders"


@dataclass(frozen=True)
class Result:
    rps: float
    p50_us: float
    p99_us: float


def require_tools() -> None:
    missing = [tool for tool in ("wrk", "nginx", "taskset") if shutil.which(tool) is None]
    if missing:
        sys.exit(f"bench/proxy.py needs {', '.join(missing)}: install the Debian packages "
                 "wrk and nginx (apt-get update && apt-get install -y wrk nginx)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_port(port: int, process: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process {process.args!r} exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port} after {timeout}s")


def stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    """Stop one process we started, by its PID."""
    if process.poll() is None:
        os.kill(process.pid, sig)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()


def pinned(cpus: str | None, argv: list[str]) -> list[str]:
    return ["taskset", "-c", cpus, *argv] if cpus else argv


def family(pid: int) -> list[int]:
    """``pid`` and its descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        queue += children.get(current, [])
    return found


def repin(pid: int, cpus: str | None) -> None:
    """Move ``pid``, its threads and its children's to ``cpus``."""
    if cpus is None:
        return
    for member in family(pid):
        subprocess.run(["taskset", "-a", "-p", "-c", cpus, str(member)],
                       capture_output=True, check=False, timeout=10)


# -- nginx ------------------------------------------------------------------------------------

NGINX_CONF = """\
worker_processes {workers};
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    {body}
}}
"""

UPSTREAM_SERVER = """\
server {{
        listen 127.0.0.1:{port} backlog=4096;
        location / {{ default_type text/plain; return 200 "{body}"; }}
    }}"""

PROXY_SERVER = """\
upstream backend {{ server 127.0.0.1:{upstream}; keepalive 64; }}
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location / {{
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}"""


@contextmanager
def nginx(name: str, server: str, workers: int, port: int, cpus: str | None,
          folder: Path) -> Iterator[int]:
    prefix = folder / name
    (prefix / "logs").mkdir(parents=True, exist_ok=True)
    conf = prefix / "nginx.conf"
    conf.write_text(NGINX_CONF.format(workers=workers, prefix=prefix, body=server))
    process = subprocess.Popen(
        pinned(cpus, ["nginx", "-p", str(prefix), "-c", str(conf)]),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_port(port, process)
        yield process.pid
    finally:
        stop(process, signal.SIGQUIT)  # nginx: graceful stop, workers included


# -- the edge ---------------------------------------------------------------------------------


def edge_config(upstream: int) -> str:
    """A route table like a real API's: hosts, prefixes, templates; the benchmarked route is
    one of many."""
    lines = ["upstreams:", "  - name: backend",
             f'    targets: [{{address: "127.0.0.1:{upstream}"}}]', "routes:"]
    for index in range(40):
        lines += [f"  - id: svc-{index}", f'    paths: ["/svc{index}/v1/items/{{id:int}}"]',
                  "    upstream: backend"]
        lines += [f"  - id: host-{index}", f'    hosts: ["t{index}.example.com"]',
                  '    paths: ["/"]', "    upstream: backend"]
    lines += ["  - id: users", '    paths: ["/api/v1/users/{id}/orders"]', "    upstream: backend",
              "  - id: api", '    paths: ["/api"]', "    upstream: backend"]
    return "\n".join(lines) + "\n"


@contextmanager
def edge(workers: int, upstream: int, port: int, cpus: str | None, folder: Path,
         otlp: str, trace_ratio: float) -> Iterator[int]:
    config = folder / "edge.yaml"
    config.write_text(edge_config(upstream))
    env = {**os.environ, "OTEL_EXPORTER_OTLP_ENDPOINT": otlp,
           "OTEL_EXPORTER_OTLP_INSECURE": "true", "OTEL_SERVICE_NAME": "bench-edge"}
    argv = [EDGEWAY, "edge", "--config", str(config), "--stage", "bench",
            "--listen", f"127.0.0.1:{port}", "--admin-listen", f"127.0.0.1:{free_port()}",
            "--data-dir", str(folder / f"edge-data-{workers}"), "--workers", str(workers),
            "--trace-ratio", str(trace_ratio), "--access-log", "--log-level", "warning"]
    with open(os.devnull, "wb") as devnull:
        process = subprocess.Popen(pinned(cpus, argv), stdout=devnull,
                                   stderr=subprocess.DEVNULL, env=env, cwd=ROOT)
    try:
        wait_port(port, process)
        time.sleep(0.5 * workers)  # every worker listening (SO_REUSEPORT)
        yield process.pid
    finally:
        stop(process)


# -- wrk --------------------------------------------------------------------------------------

_UNITS = {"us": 1.0, "ms": 1000.0, "s": 1_000_000.0}


def _latency(text: str, label: str) -> float:
    found = re.search(rf"^\s*{label}\s+([\d.]+)(us|ms|s)\s*$", text, re.MULTILINE)
    if found is None:
        raise RuntimeError(f"no {label} latency in wrk's output:\n{text}")
    return float(found.group(1)) * _UNITS[found.group(2)]


def wrk(port: int, connections: int, seconds: float, cpus: str | None) -> Result:
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency",
            "--timeout", "5s", f"http://127.0.0.1:{port}{PATH}"]
    done = subprocess.run(pinned(cpus, argv), capture_output=True, text=True,
                          timeout=seconds + 30, check=True)
    text = done.stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if rps is None:
        raise RuntimeError(f"no Requests/sec in wrk's output:\n{text}")
    if errors is not None:
        raise RuntimeError(f"{errors.group(1)} error responses:\n{text}")
    return Result(float(rps.group(1)), _latency(text, "50%"), _latency(text, "99%"))


def bracketed(measured: list[float], base: list[float]) -> tuple[float, float, float]:
    """Median, lowest and highest of ``measured[i]`` over the mean of the baseline runs on
    either side of it in time, ``base[i]`` and ``base[i + 1]`` (the baseline runs once more
    than ``measured``, closing the last round). On a shared VM the machine's speed wanders by
    10-30% over tens of seconds: a ratio to the baseline run before alone carries any drift
    between the two, the mean of the runs before and after cancels a steady one."""
    ratios = sorted(m / ((b + after) / 2)
                    for m, b, after in zip(measured, base[:-1], base[1:], strict=True))
    return ratios[len(ratios) // 2], ratios[0], ratios[-1]


def median(results: list[Result]) -> Result:
    return sorted(results, key=lambda result: result.rps)[len(results) // 2]


Target = tuple[int, int | None]
"""``(port, pid)`` of something to measure; the pid (proxies only) is re-pinned."""


def measure(targets: list[Target], args: argparse.Namespace, cpus: str | None,
            near: str | None) -> list[tuple[Result, Result]]:
    """Throughput with the proxies on ``cpus``, then latency with everything on ``near``.
    Runs alternate between the targets (round after round), so a slow spell of the machine
    hits them alike."""
    for port, _ in targets:
        wrk(port, args.connections, 1, near)  # warm-up: connections, pools, caches
    loaded: list[list[Result]] = [[] for _ in targets]
    single: list[list[Result]] = [[] for _ in targets]
    for _ in range(args.runs):
        for index, (port, _) in enumerate(targets):
            loaded[index].append(wrk(port, args.connections, args.seconds, near))
    for _, pid in targets:
        if pid is not None:
            repin(pid, near)
    for _ in range(args.runs):
        for index, (port, _) in enumerate(targets):
            single[index].append(wrk(port, 1, args.seconds, near))
    for _, pid in targets:
        if pid is not None:
            repin(pid, cpus)
    return [(median(loaded[i]), median(single[i])) for i in range(len(targets))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="length of each wrk run")
    parser.add_argument("--runs", type=int, default=3, help="wrk runs per figure (median)")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--trace-ratio", type=float, default=0.01,
                        help="share of new traces the edge records (parent-based sampler)")
    args = parser.parse_args()
    require_tools()
    from tests.support.otlp import OtlpReceiver

    cores = os.cpu_count() or 1
    pin = cores >= 2
    near, far, both = ("0", "1", "0-1") if pin else (None, None, None)
    if pin:
        os.sched_setaffinity(0, {0})  # this script and the OTLP receiver stay off core 1
    receiver = OtlpReceiver()
    receiver.start()
    rows: list[tuple[str, str, Result, Result]] = []
    with tempfile.TemporaryDirectory(prefix="edgeway-bench-") as temp:
        folder = Path(temp)
        upstream = free_port()
        served = UPSTREAM_SERVER.format(port=upstream, body=BODY)
        with nginx("upstream", served, 1, upstream, near, folder):
            ((loaded, single),) = measure([(upstream, None)], args, near, near)
            rows.append(("direct (upstream nginx)", near or "-", loaded, single))
            for workers, cpus in ((1, far), (2, both)):
                nginx_port, edge_port = free_port(), free_port()
                proxy = PROXY_SERVER.format(upstream=upstream, port=nginx_port)
                with nginx(f"proxy-{workers}", proxy, workers, nginx_port, cpus,
                           folder) as nginx_pid, \
                        edge(workers, upstream, edge_port, cpus, folder, receiver.endpoint,
                             args.trace_ratio) as edge_pid:
                    (n_loaded, n_single), (e_loaded, e_single) = measure(
                        [(nginx_port, nginx_pid), (edge_port, edge_pid)], args, cpus, near)
                rows.append((f"nginx, {workers} worker(s)", cpus or "-", n_loaded, n_single))
                rows.append((f"edge, {workers} worker(s)", cpus or "-", e_loaded, e_single))
    spans = len(receiver.spans())
    receiver.stop()
    report(rows, args, pin, spans)


def report(rows: list[tuple[str, str, Result, Result]], args: argparse.Namespace, pin: bool,
           spans: int) -> None:
    direct_p50 = rows[0][3].p50_us
    by_name = {name: loaded for name, _, loaded, _ in rows}
    routes = edge_config(0).count("- id:")
    print(f"wrk: median of {args.runs} runs of {args.seconds:g}s; {args.connections} connections "
          f"for req/s, 1 for latency; GET {PATH} -> {len(BODY)}-byte body")
    print("pinning: " + ("req/s: upstream nginx + wrk on core 0, 1-worker proxies on core 1, "
                         "2-worker proxies on cores 0-1; 1-connection latency: all on core 0"
                         if pin else "none (one core)"))
    print(f"edge data path: {native.status()} (edgeway native status)")
    print(f"edge: {routes} routes, JSON access log to /dev/null, tracing on (OTel SDK, "
          f"parent-based ratio {args.trace_ratio:g}, {spans} spans exported over OTLP)")
    print()
    head = (f"{'target':<26}{'cpus':>6}{'req/s':>11}{'p50 us':>9}{'p99 us':>9}"
            f"{'1-conn p50':>12}{'1-conn p99':>12}{'added p50 us':>14}")
    print(head)
    print("-" * len(head))
    for name, cpus, loaded, single in rows:
        added = "" if name.startswith("direct") else f"{single.p50_us - direct_p50:.0f}"
        print(f"{name:<26}{cpus:>6}{loaded.rps:>11.0f}{loaded.p50_us:>9.0f}{loaded.p99_us:>9.0f}"
              f"{single.p50_us:>12.0f}{single.p99_us:>12.0f}{added:>14}")
    print()
    for workers in (1, 2):
        edge_rps = by_name[f"edge, {workers} worker(s)"].rps
        nginx_rps = by_name[f"nginx, {workers} worker(s)"].rps
        print(f"edge/nginx req/s, {workers} worker(s): {edge_rps / nginx_rps:.1%}"
              + ("  (target >= 35%)" if workers == 1 else ""))
    singles = {name: single for name, _, _, single in rows}
    for name in ("nginx, 1 worker(s)", "edge, 1 worker(s)"):
        extra = singles[name].p50_us - direct_p50
        print(f"added at p50 over direct, one connection, {name}: {extra:.0f} us"
              + ("  (target <= 80 us)" if name.startswith("edge") else ""))


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()

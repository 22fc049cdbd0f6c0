"""Instructions per request of the edge, counted under callgrind: steady where req/s is not.

    .venv/bin/python bench/instructions.py [--requests 2000] [--configs none,local,authorizer]

Needs the Debian packages ``valgrind`` and ``nginx``. On this machine req/s wanders by more
than most changes to the data path are worth; instruction counts repeat to within 0.5%, so a
change can be measured alone (then confirmed by ``bench/policies_edge.py`` or
``bench/plugins_edge.py``, which measure). What runs:

- nginx (one worker) as the upstream, with the authorizer's introspection endpoint
  (``bench/plugins_edge.py``'s);
- for each config, a real ``edgeway edge`` under ``valgrind --tool=callgrind`` with counting
  off; 800 requests warm it up, then counting is switched on (``callgrind_control -i on``) for
  ``--requests`` requests on 8 keep-alive connections, and off again. Configs: ``none`` and
  ``local`` (``bench/policies_edge.py``'s: no policies, key-auth + rate-limit local, the
  request with its API key), ``authorizer`` (``bench/plugins_edge.py``'s: the contributed
  authorizer behind the verdict cache, the request with its token; its plugin process runs
  outside valgrind);
- it prints the instructions per request (user space only: the kernel is not counted) and
  the difference to ``none``. ``--keep DIR`` keeps the callgrind files for
  ``callgrind_annotate`` (by function, ``--inclusive=yes``, ``--tree=calling``).

Every process started here is stopped by its PID.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import plugins_edge
import policies_edge
from proxy import free_port, stop, wait_port

CONNECTIONS = 8
WARM_UP = 800


def request_bytes(config: str) -> bytes:
    if config == "authorizer":
        path, header = plugins_edge.PATH, f"Authorization: Bearer {plugins_edge.TOKEN}"
    else:
        path, header = policies_edge.PATH, policies_edge.KEY_HEADER
    return f"GET {path} HTTP/1.1\r\nHost: bench\r\n{header}\r\n\r\n".encode()


def client(port: int, request: bytes, count: int, bad: list[bytes]) -> None:
    """``count`` requests one after the other on one connection; non-200 heads go to ``bad``."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        buffer = b""
        for _ in range(count):
            sock.sendall(request)
            while True:
                end = buffer.find(b"\r\n\r\n")
                if end >= 0:
                    head = buffer[:end].lower()
                    at = head.find(b"content-length:")
                    length = int(head[at + 15 :].split(b"\r\n")[0]) if at >= 0 else 0
                    if len(buffer) >= end + 4 + length:
                        if not buffer.startswith(b"HTTP/1.1 200"):
                            bad.append(buffer[:200])
                        buffer = buffer[end + 4 + length :]
                        break
                chunk = sock.recv(65536)
                if not chunk:
                    raise RuntimeError("the edge closed the connection")
                buffer += chunk


def load(port: int, request: bytes, count: int) -> None:
    bad: list[bytes] = []
    threads = [threading.Thread(target=client, args=(port, request, count // CONNECTIONS, bad))
               for _ in range(CONNECTIONS)]  # fmt: skip
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if bad:
        sys.exit(f"the edge did not answer 200: {bad[0]!r}")


def edge_config(config: str, upstream: int, plugin_port: int) -> str:
    if config == "authorizer":
        return plugins_edge.edge_config(upstream, "authorizer", plugin_port)
    return policies_edge.edge_config(upstream, config)


def count(config: str, upstream: int, folder: Path, requests: int, keep: Path | None,
          processes: list[subprocess.Popen[bytes]]) -> float:  # fmt: skip
    """Instructions per request of an edge serving ``config``."""
    plugin_port = free_port()
    if config == "authorizer":
        argv = [sys.executable, str(plugins_edge.SCRIPTS["authorizer"]), "--listen",
                f"127.0.0.1:{plugin_port}"]  # fmt: skip
        plugins_edge.start("authorizer-plugin", argv, plugin_port, folder, processes)
    port = free_port()
    (folder / f"{config}.yaml").write_text(edge_config(config, upstream, plugin_port))
    out = (keep or folder) / f"callgrind.{config}.out"
    argv = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}",
            policies_edge.EDGEWAY, "edge", "--config", str(folder / f"{config}.yaml"),
            "--stage", "bench", "--listen", f"127.0.0.1:{port}", "--admin-listen",
            f"127.0.0.1:{free_port()}", "--data-dir", str(folder / f"{config}-data"),
            "--access-log", "--log-level", "warning"]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    with (folder / f"{config}.stderr").open("wb") as errors:
        edge = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=errors, env=env,
                                cwd=folder)  # fmt: skip
    processes.append(edge)
    wait_port(port, edge, timeout=600)
    request = request_bytes(config)
    load(port, request, WARM_UP)
    subprocess.run(["callgrind_control", "-i", "on", str(edge.pid)], check=True,
                   capture_output=True)  # fmt: skip
    load(port, request, requests)
    subprocess.run(["callgrind_control", "-i", "off", str(edge.pid)], check=True,
                   capture_output=True)  # fmt: skip
    edge.send_signal(signal.SIGTERM)
    edge.wait(timeout=120)
    text = subprocess.run(["callgrind_annotate", str(out)], capture_output=True, text=True,
                          check=True).stdout  # fmt: skip
    totals = next(line for line in text.splitlines() if "PROGRAM TOTALS" in line)
    return int(totals.split()[0].replace(",", "")) / (requests // CONNECTIONS * CONNECTIONS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--configs", default="none,local,authorizer",
                        help="comma-separated subset of none,local,authorizer")
    parser.add_argument("--keep", type=Path, default=None,
                        help="a directory to keep the callgrind files in")
    args = parser.parse_args()
    missing = [t for t in ("valgrind", "callgrind_control", "callgrind_annotate", "nginx")
               if not shutil.which(t)]  # fmt: skip
    if missing:
        sys.exit(f"missing: {', '.join(missing)} (Debian packages valgrind, nginx)")
    configs = args.configs.split(",")
    unknown = set(configs) - {"none", "local", "authorizer"}
    if unknown:
        sys.exit(f"unknown config(s): {', '.join(sorted(unknown))}")
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
    processes: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        upstream = free_port()
        (folder / "nginx.conf").write_text(plugins_edge.nginx_config(folder, upstream))
        (folder / "logs").mkdir()
        nginx = subprocess.Popen(["nginx", "-p", str(folder), "-c", str(folder / "nginx.conf")],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        try:
            wait_port(upstream, nginx, timeout=30)
            print(f"instructions per request under callgrind ({args.requests} requests on "
                  f"{CONNECTIONS} keep-alive connections after {WARM_UP} to warm up; user space)")
            base: float | None = None
            for config in configs:
                per_request = count(config, upstream, folder, args.requests, args.keep,
                                    processes)  # fmt: skip
                if config == "none":
                    base = per_request
                extra = "" if base is None or config == "none" else \
                    f"  {per_request - base:+8.0f}  ({(per_request - base) / base:+.1%} of none)"
                print(f"{config:12} {per_request:9.0f}{extra}", flush=True)
        finally:
            for process in reversed(processes):
                stop(process)
            stop(nginx, signal.SIGQUIT)


if __name__ == "__main__":
    main()

"""Run an ``EdgeProxy`` in its own process, serving a YAML config, for tests that measure it.

``python -m tests.support.proxy_process --config FILE [--port P] [--access-log]`` parses the
file (``parse_config_text``), compiles it (``compile_config``), installs it as version 1 and
serves on 127.0.0.1 under uvloop until SIGTERM; it prints ``READY <port>`` once listening.
:class:`ProxyProcess` starts one and reads its resident memory from ``/proc``.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import uvloop

from edgeway.common.config.loading import parse_config_text
from edgeway.common.logging import configure_logging
from edgeway.edge.accesslog import AccessLog
from edgeway.edge.compile import compile_config
from edgeway.edge.proxy import EdgeProxy
from tests.support.upstream import _readline

__all__ = ["ProxyProcess", "rss_kib"]


async def serve(text: str, source: str, port: int, access_log: bool) -> None:
    compiled = compile_config(parse_config_text(text, source=source))
    proxy = EdgeProxy(node_id="test-proxy", stage="test", region="local",
                      access_log=AccessLog() if access_log else None)
    proxy.swap(compiled, version=1, config_hash=hashlib.sha256(text.encode()).hexdigest())
    bound = await proxy.start("127.0.0.1", port)
    print(f"READY {bound}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    await stop.wait()
    await proxy.stop(drain_timeout=2.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--access-log", action="store_true")
    args = parser.parse_args()
    configure_logging("warning", "json")  # application logs on stderr; stdout: READY + access
    uvloop.run(serve(args.config.read_text(), str(args.config), args.port, args.access_log))


def rss_kib(pid: int) -> int:
    """Resident memory of process ``pid`` in KiB (``VmRSS`` of ``/proc/<pid>/status``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


@dataclass
class ProxyProcess:
    """A running proxy process (``start()`` returns its port once it listens)."""

    config: Path
    port: int = 0
    process: subprocess.Popen[str] | None = field(default=None, init=False)

    def start(self, timeout: float = 20.0) -> int:
        root = Path(__file__).resolve().parents[2]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.proxy_process", "--config", str(self.config),
             "--port", str(self.port)],
            cwd=root, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
        line = _readline(self.process, timeout)
        if not line.startswith("READY "):
            self.stop()
            raise RuntimeError(f"proxy process did not start: {line!r}")
        self.port = int(line.split()[1])
        return self.port

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def stop(self) -> int | None:
        process, self.process = self.process, None
        if process is None:
            return None
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stdout is not None:
            process.stdout.close()
        return process.returncode


if __name__ == "__main__":
    main()

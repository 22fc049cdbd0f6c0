"""Real edge and demo-upstream processes for end-to-end tests, on free loopback ports."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.http import Answer, call
from tests.support.processes import EdgewayProcess, free_port


@dataclass
class Edge:
    url: str
    admin_url: str
    data_dir: Path
    process: EdgewayProcess

    def get(self, path: str, **kw: Any) -> Answer:
        return call("GET", self.url + path, **kw)

    def config(self) -> dict[str, Any]:
        body = call("GET", self.admin_url + "/config").body
        assert isinstance(body, dict)
        return body

    def wait_version(self, version: int | None, timeout: float = 15.0) -> dict[str, Any]:
        """Wait until the edge serves ``version``; return its /config."""
        deadline = time.monotonic() + timeout
        seen: dict[str, Any] = {}
        while time.monotonic() < deadline:
            seen = self.config()
            if seen.get("version") == version:
                return seen
            time.sleep(0.05)
        raise AssertionError(f"edge did not reach version {version} in {timeout}s: {seen}\n"
                             f"{self.process.log_tail()}")

    def stop(self) -> int | None:
        return self.process.stop()

    def start(self) -> None:
        self.process.start()


def start_edge(control_planes: list[str], stage: str, folder: Path, *, region: str = "local",
               node_id: str | None = None, env: dict[str, str] | None = None,
               extra: tuple[str, ...] = ()) -> Edge:
    port, admin = free_port(), free_port()
    data_dir = folder / f"edge-{node_id or port}"
    args = ["edge", "--control-plane", ",".join(control_planes), "--stage", stage,
            "--region", region, "--listen", f"127.0.0.1:{port}",
            "--admin-listen", f"127.0.0.1:{admin}", "--data-dir", str(data_dir),
            "--no-access-log", *extra]
    if node_id:
        args += ["--node-id", node_id]
    process = EdgewayProcess(args, log_path=folder / f"edge-{port}.log",
                             health_url=f"http://127.0.0.1:{admin}/healthz", env=env or {})
    process.start()
    return Edge(f"http://127.0.0.1:{port}", f"http://127.0.0.1:{admin}", data_dir, process)


def start_upstream(name: str, folder: Path) -> tuple[str, EdgewayProcess]:
    """A demo users service answering with ``served_by: name``; returns (address, process)."""
    port = free_port()
    process = EdgewayProcess(["demo-upstream", "--listen", f"127.0.0.1:{port}", "--name", name],
                             log_path=folder / f"upstream-{name}.log",
                             health_url=f"http://127.0.0.1:{port}/healthz")
    process.start()
    return f"127.0.0.1:{port}", process

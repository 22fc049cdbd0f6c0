"""A standalone edge process (``edgeway edge --config FILE``) for policy tests and benchmarks.

:class:`StandaloneEdge` writes the YAML it is given into a folder, starts ``edgeway edge
--config FILE --stage s`` on free loopback ports (optionally ``--redis URL`` and ``--workers``),
waits until its admin ``/healthz`` answers and stops it by its PID. Its stdout (the JSON access
log) and stderr go to a log file: :meth:`StandaloneEdge.access_lines` reads the access lines.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.processes import EdgewayProcess, free_port

__all__ = ["StandaloneEdge"]


@dataclass
class StandaloneEdge:
    """One edge process serving ``config`` (YAML text); see the module docstring."""

    config: str
    folder: Path
    name: str = "edge"
    redis_url: str | None = None
    workers: int = 1
    access_log: bool = True
    port: int = 0
    admin_port: int = 0
    env: dict[str, str] = field(default_factory=dict)
    """Extra environment of the edge process (``OTEL_*`` for tracing tests)."""
    process: EdgewayProcess | None = field(default=None, init=False)

    def start(self, timeout: float = 30.0) -> int:
        """Start the edge; return its traffic port once it serves."""
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{self.name}.yaml"
        path.write_text(self.config)
        self.port = self.port or free_port()
        self.admin_port = free_port()
        args = ["edge", "--config", str(path), "--stage", "s", "--node-id", self.name,
                "--listen", f"127.0.0.1:{self.port}",
                "--admin-listen", f"127.0.0.1:{self.admin_port}",
                "--data-dir", str(self.folder / f"{self.name}-data"),
                "--workers", str(self.workers), "--log-level", "warning",
                "--access-log" if self.access_log else "--no-access-log"]  # fmt: skip
        if self.redis_url:
            args += ["--redis", self.redis_url]
        self.process = EdgewayProcess(
            args, log_path=self.folder / f"{self.name}.log",
            health_url=f"http://127.0.0.1:{self.admin_port}/healthz", env=self.env,
        )  # fmt: skip
        self.process.start(timeout)
        if self.workers > 1:
            time.sleep(0.5)  # every worker listening (SO_REUSEPORT)
        return self.port

    def stop(self) -> int | None:
        process, self.process = self.process, None
        return process.stop() if process is not None else None

    def log_text(self) -> str:
        try:
            return (self.folder / f"{self.name}.log").read_text(errors="replace")
        except OSError:
            return ""

    def access_lines(self) -> list[dict[str, Any]]:
        """The access-log lines written so far (the log is flushed every 50 ms)."""
        lines = []
        for line in self.log_text().splitlines():
            if line.startswith("{") and '"request_id"' in line and '"status"' in line:
                lines.append(json.loads(line))
        return lines

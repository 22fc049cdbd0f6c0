"""Start Edgeway processes (``edgeway controlplane`` ...) on free loopback ports, stop them by PID.

Each process's output goes to a log file that is shown when it fails to come up, so a broken
start says why instead of timing out silently.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

EDGEWAY = str(Path(sys.executable).parent / "edgeway")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def run_cli(*args: str, env: dict[str, str] | None = None, stdin: bytes | None = None,
            timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """Run ``edgeway ARGS...`` and capture its output (never raises on a non-zero exit)."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([EDGEWAY, *args], input=stdin.decode() if stdin else None,
                          capture_output=True, text=True, env=full_env, timeout=timeout,
                          check=False)


@dataclass
class EdgewayProcess:
    """A running ``edgeway`` sub-command with its log file."""

    args: list[str]
    log_path: Path
    health_url: str
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    def start(self, timeout: float = 20.0) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen([EDGEWAY, *self.args], stdout=log,
                                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                            env={**os.environ, **self.env})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"edgeway {self.args[0]} exited with "
                                   f"{self.process.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.health_url, timeout=1) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"edgeway {self.args[0]} not healthy in {timeout}s:\n"
                           f"{self.log_tail()}")

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM our process, SIGKILL it after ``timeout``; return its exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        code = self.process.returncode
        self.process = None
        return code

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

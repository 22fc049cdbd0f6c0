"""Run a plugin service as a real process for tests: start it, wait for health, stop it by PID."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

__all__ = ["PluginProcess", "free_port"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PluginProcess:
    """``python SCRIPT --listen 127.0.0.1:PORT [ARGS...]`` as a child process.

    Use as a context manager (or :meth:`start`/:meth:`stop`): it is healthy (gRPC health
    ``SERVING``) when the block starts, and sent SIGTERM (SIGKILL after ``stop_timeout``) by its
    PID when it ends. Output goes to ``log_path`` (a temporary file by default).
    """

    def __init__(self, script: str | Path, *args: str, port: int | None = None,
                 env: dict[str, str] | None = None, log_path: str | Path | None = None,
                 stop_timeout: float = 10.0) -> None:
        self.script = Path(script)
        self.port = port or free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.args = [sys.executable, str(self.script), "--listen", self.address, *args]
        self.env = {**os.environ, **(env or {})}
        self.log_path = Path(log_path) if log_path else Path(
            os.environ.get("TMPDIR", "/tmp"), f"edgeway-plugin-{self.port}.log")
        self.stop_timeout = stop_timeout
        self.process: subprocess.Popen[bytes] | None = None
        self.returncode: int | None = None

    def __enter__(self) -> PluginProcess:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()

    def start(self, timeout: float = 20.0) -> None:
        """Start the process and wait until its health check says SERVING."""
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(self.args, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, env=self.env)
        try:
            self.wait_healthy(timeout)
        except BaseException:
            self.stop()
            raise

    def wait_healthy(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        with grpc.insecure_channel(self.address) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            while time.monotonic() < deadline:
                if self.process is not None and self.process.poll() is not None:
                    raise RuntimeError(f"plugin {self.script.name} exited with "
                                       f"{self.process.returncode}:\n{self.log_tail()}")
                try:
                    answer = stub.Check(health_pb2.HealthCheckRequest(), timeout=1.0)
                    if answer.status == health_pb2.HealthCheckResponse.SERVING:
                        return
                except grpc.RpcError:
                    pass
                time.sleep(0.05)
        raise RuntimeError(f"plugin {self.script.name} not healthy in {timeout}s:\n"
                           f"{self.log_tail()}")

    def signal(self, sig: signal.Signals) -> None:
        """Send ``sig`` to the process (e.g. SIGSTOP to make it hang, SIGCONT to resume)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)

    def wait(self, timeout: float = 10.0) -> int | None:
        """Wait for the process to exit by itself (e.g. after SIGTERM); its exit code, or
        ``None`` when it is still running after ``timeout``."""
        if self.process is None:
            return self.returncode
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self) -> int | None:
        """SIGTERM the process, SIGKILL it after ``stop_timeout``; return its exit code."""
        process, self.process = self.process, None
        if process is None:
            return self.returncode
        if process.poll() is None:
            process.send_signal(signal.SIGCONT)  # a stopped process cannot handle SIGTERM
            process.terminate()
            try:
                process.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.returncode = process.returncode
        return self.returncode

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

"""A real Redis server started as a child process, for tests of fleet-wide policies.

``EmbeddedRedis`` runs the ``redis-server`` binary (Debian's package; ``deploy/bootstrap.sh
--with-redis`` installs it) on a free loopback port with its own temporary directory, no
persistence (``--save '' --appendonly no``), waits until it answers ``PING``, and stops it by
its own PID. It fails loudly when the binary is missing: these tests must not be skipped::

    with EmbeddedRedis() as redis:
        client = Redis.from_url(redis.url)

:meth:`EmbeddedRedis.pause` / :meth:`resume` stop and continue the process (SIGSTOP/SIGCONT)
so a test can make Redis unresponsive without losing its data; :meth:`stop` kills it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Self

__all__ = ["EmbeddedRedis", "find_redis_server"]

_INSTALL_HINT = "install Debian's redis-server package (bash deploy/bootstrap.sh --with-redis)"


def find_redis_server() -> Path:
    """The ``redis-server`` binary on PATH (or /usr/bin, /usr/local/bin)."""
    found = shutil.which("redis-server")
    for candidate in [found, "/usr/bin/redis-server", "/usr/local/bin/redis-server"]:
        if candidate and os.access(candidate, os.X_OK):
            return Path(candidate)
    raise RuntimeError(f"redis-server binary not found: {_INSTALL_HINT}")


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _ping(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class EmbeddedRedis:
    """One Redis server on loopback; a sync context manager (see the module docstring)."""

    def __init__(self, host: str = "127.0.0.1", *, startup_timeout: float = 10.0) -> None:
        self.host = host
        self.port = 0
        self._startup_timeout = startup_timeout
        self._dir: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    @property
    def pid(self) -> int:
        if self._process is None:
            raise RuntimeError("EmbeddedRedis is not started")
        return self._process.pid

    def start(self) -> None:
        """Start the server and block until it answers PING."""
        if self._process is not None:
            raise RuntimeError("EmbeddedRedis is already started")
        binary = find_redis_server()
        self._dir = Path(tempfile.mkdtemp(prefix="edgeway-redis-"))
        for attempt in range(3):  # a free port can be taken before redis binds it
            self.port = _free_port(self.host)
            self._log = (self._dir / "redis.log").open("ab")
            self._process = subprocess.Popen(
                [str(binary), "--port", str(self.port), "--bind", self.host, "--save", "",
                 "--appendonly", "no", "--dir", str(self._dir), "--protected-mode", "no"],
                stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
            )  # fmt: skip
            if self._wait():
                return
            self._reap()
            if attempt == 2:
                tail = (self._dir / "redis.log").read_text(errors="replace")[-2000:]
                shutil.rmtree(self._dir, ignore_errors=True)
                raise RuntimeError(f"redis-server did not start on port {self.port}:\n{tail}")

    def _wait(self) -> bool:
        assert self._process is not None
        deadline = time.monotonic() + self._startup_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                return False
            if _ping(self.host, self.port):
                return True
            time.sleep(0.02)
        return False

    def pause(self) -> None:
        """Freeze the server (SIGSTOP to its PID): connections hang, data stays."""
        os.kill(self.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.pid, signal.SIGCONT)

    def stop(self) -> None:
        """Terminate the server by its PID and remove its directory."""
        self._reap()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def _reap(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            os.kill(process.pid, signal.SIGCONT)  # a paused server cannot handle SIGTERM
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:  # fmt: skip
        self.stop()

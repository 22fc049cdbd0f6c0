"""OnLog delivery: entries are buffered and sent in batches by a background task.

:meth:`LogShipper.add` never waits and never fails: the request path only appends. A batch per
plugin instance goes out when ``batch_size`` entries are waiting or every ``interval`` seconds.
The buffer is bounded (``max_buffered``): past it, and when a batch cannot be delivered,
entries are dropped and counted, never retried into an unbounded backlog.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog

from edgeway.edge.plugins.outcome import PluginInstance
from edgeway.v1 import plugin_pb2

__all__ = ["LogSettings", "LogShipper"]

log = structlog.get_logger(__name__)

Send = Callable[[plugin_pb2.LogBatch], Awaitable[None]]


@dataclass(frozen=True)
class LogSettings:
    batch_size: int = 100
    interval: float = 0.25
    max_buffered: int = 10_000
    send_timeout: float = 2.0


class LogShipper:
    """Buffers log entries per plugin instance and ships them with ``send``."""

    def __init__(self, plugin: str, send: Send, settings: LogSettings | None = None) -> None:
        self.plugin = plugin
        self.settings = settings or LogSettings()
        self._send = send
        self._buffers: dict[bytes, tuple[PluginInstance, list[plugin_pb2.LogEntry]]] = {}
        self._buffered = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.sent = 0
        self.dropped = 0

    def add(self, instance: PluginInstance, entry: plugin_pb2.LogEntry) -> None:
        """Queue one finished exchange for ``instance`` (drops it when the buffer is full)."""
        if self._closed or self._buffered >= self.settings.max_buffered:
            self.dropped += 1
            return
        found = self._buffers.get(instance.key)
        if found is None:
            found = self._buffers[instance.key] = (instance, [])
        found[1].append(entry)
        self._buffered += 1
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())
        if self._buffered >= self.settings.batch_size:
            self._wake.set()

    async def _run(self) -> None:
        while not self._closed:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.interval):
                    await self._wake.wait()
            self._wake.clear()
            await self.flush()

    async def flush(self) -> None:
        """Send everything buffered now, one batch per instance (at most ``batch_size``)."""
        buffers, self._buffers, self._buffered = self._buffers, {}, 0
        unsent = sum(len(entries) for _, entries in buffers.values())
        try:
            for instance, entries in buffers.values():
                for start in range(0, len(entries), self.settings.batch_size):
                    chunk = entries[start:start + self.settings.batch_size]
                    batch = plugin_pb2.LogBatch(entries=chunk, config=instance.config)
                    try:
                        async with asyncio.timeout(self.settings.send_timeout):
                            await self._send(batch)
                    except Exception as exc:
                        self.dropped += len(chunk)
                        log.warning("plugin log batch dropped", plugin=self.plugin,
                                    entries=len(chunk), error=str(exc) or type(exc).__name__)
                    else:
                        self.sent += len(chunk)
                    unsent -= len(chunk)
        finally:
            self.dropped += unsent  # cancelled half-way (closing): what was left is lost

    async def close(self) -> None:
        """Stop the background task and send what is left (bounded by ``send_timeout``)."""
        self._closed = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await self.flush()

"""One replica's view of the stages, driven by the store's watch, debounced per stage.

The hub consumes :meth:`Store.watch_stages` (no polling) and keeps, per stage, the newest record
seen (``latest``) and the one edges are told about (``published``). A change is published once
the stage has been quiet for ``debounce`` seconds, or at the latest ``max_delay`` seconds after
the first change of a burst, so fifty deploys in a row make a handful of publications and the
last one is always the newest. The first snapshot is published at once.

Sessions subscribe an :class:`asyncio.Event` to their stage; a publication sets it, and the
session reads :meth:`StageHub.stage` (always the newest published record, so nothing older is
ever sent after something newer). Payloads come from a shared :class:`PushCache`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict

import structlog

from edgeway.common.tasks import stop_tasks
from edgeway.controlplane.discovery.payloads import Payload, PushCache
from edgeway.controlplane.store import Stage, StageChanges, Store

__all__ = ["StageHub"]

log = structlog.get_logger(__name__)


class StageHub:
    """Stages as this replica knows them; start with :meth:`start`, end with :meth:`close`."""

    def __init__(
        self, store: Store, *, debounce: float = 0.1, max_delay: float = 1.0, cache_size: int = 16
    ) -> None:
        self._store = store
        self._debounce = debounce
        self._max_delay = max(max_delay, debounce)
        self.cache = PushCache(store.get_version, capacity=cache_size)
        self._latest: dict[str, Stage | None] = {}
        self._published: dict[str, Stage] = {}
        self._changes: dict[str, int] = defaultdict(int)
        self._timers: dict[str, asyncio.Task[None]] = {}
        self._subscribers: dict[str, set[asyncio.Event]] = defaultdict(set)
        self._ready = asyncio.Event()
        self._watcher: asyncio.Task[None] | None = None
        self.publications = 0  # how many stage changes were published (for tests and metrics)

    async def start(self, timeout: float) -> None:  # noqa: ASYNC109 - bounds the first read
        """Start watching; return once the first snapshot is in (or raise TimeoutError)."""
        self._watcher = asyncio.create_task(self._watch(), name="stage watch")
        self._watcher.add_done_callback(_report_end)
        try:
            async with asyncio.timeout(timeout):
                await self._ready.wait()
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        tasks = [t for t in (self._watcher, *self._timers.values()) if t is not None]
        self._watcher = None
        self._timers.clear()
        await stop_tasks(*tasks)
        await self.cache.close()

    def stage(self, name: str) -> Stage | None:
        """The newest published record of stage ``name``; None for an unknown stage."""
        return self._published.get(name)

    def stages(self) -> list[Stage]:
        return sorted(self._published.values(), key=lambda s: s.name)

    def subscribe(self, name: str, wake: asyncio.Event) -> None:
        self._subscribers[name].add(wake)

    def unsubscribe(self, name: str, wake: asyncio.Event) -> None:
        subscribers = self._subscribers.get(name)
        if subscribers is not None:
            subscribers.discard(wake)
            if not subscribers:
                del self._subscribers[name]

    async def payload(self, stage: Stage) -> Payload:
        """The push payload of what ``stage`` runs (its version must not be None)."""
        if stage.version is None:
            raise ValueError(f"stage {stage.name!r} has no version")
        return await self.cache.get(stage.name, stage.version)

    # -- the watch -------------------------------------------------------------------------

    async def _watch(self) -> None:
        async with contextlib.aclosing(self._store.watch_stages()) as changes:
            async for change in changes:
                self._apply(change)
                if not self._ready.is_set():
                    for name in list(self._latest):
                        self._publish(name)
                    self._ready.set()
                    log.info("stages loaded", stages=len(self._published))

    def _apply(self, change: StageChanges) -> None:
        updates: dict[str, Stage | None] = {s.name: s for s in change.stages}
        updates.update(dict.fromkeys(change.deleted))
        if change.snapshot:
            updates.update({n: None for n in self._latest if n not in updates})
        for name, stage in updates.items():
            if name in self._latest and self._latest[name] == stage:
                continue
            self._latest[name] = stage
            self._changes[name] += 1
            if self._ready.is_set() and name not in self._timers:
                self._timers[name] = asyncio.create_task(self._settle(name), name=f"settle {name}")

    async def _settle(self, name: str) -> None:
        """Publish ``name`` once it has been quiet for ``debounce`` (or ``max_delay`` passed)."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        while True:
            seen = self._changes[name]
            await asyncio.sleep(self._debounce)
            if self._changes[name] == seen or loop.time() - started >= self._max_delay:
                break
        del self._timers[name]
        self._publish(name)

    def _publish(self, name: str) -> None:
        stage = self._latest.get(name)
        if stage is None:
            self._published.pop(name, None)
            self._latest.pop(name, None)
        else:
            self._published[name] = stage
        self.publications += 1
        subscribers = self._subscribers.get(name, set())
        if stage is not None and stage.version is not None and subscribers:
            self.cache.prefetch(name, stage.version)
        log.debug("stage published", stage=name,
                  version=stage.version if stage is not None else None,
                  deployment=stage.deployment if stage is not None else None,
                  sessions=len(subscribers))
        for wake in subscribers:
            wake.set()


def _report_end(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("the stage watch stopped; this replica pushes no more changes",
                  error=repr(task.exception()))

"""The stages as they change: :meth:`EtcdStore.watch_stages` (a snapshot, then a watch).

Read every ``stages/`` key at revision R and yield them as a snapshot; watch from R+1 and yield
each batch of changes. The watch itself resumes after dropped streams (see :mod:`._watch`);
when etcd compacted the revisions it needed, or the snapshot cannot be read, start over with a
new snapshot, after a jittered pause while etcd is unreachable. A record that does not decode is
logged and skipped, never fatal: one bad key must not stop every push.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncGenerator, Iterable

import structlog

from edgeway.controlplane.store._records import Keys, decode_stage
from edgeway.controlplane.store.api import Stage, StageChanges, StoreError
from edgeway.controlplane.store.client import (
    EtcdClient,
    KeyValue,
    WatchCompacted,
    WatchEvent,
    prefix_end,
)

log = structlog.get_logger(__name__)

_RETRY_FIRST = 0.2
_RETRY_MAX = 5.0


async def watch_stages(client: EtcdClient, keys: Keys) -> AsyncGenerator[StageChanges, None]:
    """See :meth:`edgeway.controlplane.store.api.Store.watch_stages`."""
    failures = 0
    while True:
        try:
            found, revision = await client.snapshot(keys.stages)
        except StoreError as exc:
            failures += 1
            delay = random.uniform(0, min(_RETRY_MAX, _RETRY_FIRST * 2 ** (failures - 1)))
            log.warning("cannot read the stages, retrying", error=str(exc),
                        retry_in=round(delay, 3))
            await asyncio.sleep(delay)
            continue
        failures = 0
        yield StageChanges(True, tuple(_decoded(found)), (), revision)
        watch = client.watch(keys.stages, prefix_end(keys.stages), start_revision=revision + 1)
        try:
            async with contextlib.aclosing(watch) as batches:
                async for batch in batches:
                    changed, deleted = _changes(keys, batch.events)
                    yield StageChanges(False, changed, deleted, batch.revision)
        except WatchCompacted as exc:
            log.warning("stage watch fell behind a compaction; reading the stages again",
                        error=str(exc))


def _decoded(found: Iterable[KeyValue]) -> list[Stage]:
    stages = []
    for kv in found:
        try:
            stages.append(decode_stage(kv.key, kv.value))
        except StoreError as exc:
            log.error("skipping a stage record that does not decode", error=str(exc))
    return stages


def _changes(keys: Keys, events: Iterable[WatchEvent]) -> tuple[tuple[Stage, ...], tuple[str, ...]]:
    """The stages as they are after ``events`` (last one wins), and those deleted."""
    latest: dict[str, Stage | None] = {}
    for event in events:
        name = event.key[len(keys.stages):].decode(errors="replace")
        if event.kind == "delete":
            latest[name] = None
            continue
        try:
            latest[name] = decode_stage(event.key, event.value)
        except StoreError as exc:
            log.error("skipping a stage record that does not decode", error=str(exc))
    changed = tuple(s for s in latest.values() if s is not None)
    deleted = tuple(name for name, s in latest.items() if s is None)
    return changed, deleted

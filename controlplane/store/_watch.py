"""Watching a key range in etcd without losing an event, over dropped streams and failovers.

aetcd's own watcher delivers a broken stream as an error to a callback and stops; it neither
resumes nor notices a stream that went silent. So this module drives etcd's Watch RPC itself:

- one bidirectional Watch call per attempt, on a channel (connection) of its own, created at
  ``start_revision`` (inclusive);
- every response carries whole revisions (fragmentation stays off), so after a drop the next
  attempt starts at the revision after the last event delivered: nothing is lost or repeated;
- liveness: a progress request is sent every ``progress_interval`` seconds and any response
  must come within ``progress_interval + timeout``, so a half-open connection is noticed;
- a failed attempt moves to the next endpoint after a jittered backoff (0.1 s doubling to 3 s);
- a compacted start revision raises :class:`WatchCompacted`: the caller reads the current
  state again and watches from the revision of that read.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import aetcd
import aetcd.rpc
import grpc
import grpc.aio
import structlog
from grpc.aio import EOF  # type: ignore[attr-defined]  # not in grpc-stubs

from edgeway.common.tasks import stop_tasks
from edgeway.controlplane.store._rpc import reason_of
from edgeway.controlplane.store.api import StoreError

log = structlog.get_logger(__name__)

_BACKOFF_FIRST = 0.1
_BACKOFF_MAX = 3.0

# A new channel to endpoint ``index``.
OpenChannel = Callable[[int], grpc.aio.Channel]


@dataclass(frozen=True, slots=True)
class WatchEvent:
    """One change: ``kind`` "put" with the new value, or "delete" (``value`` empty)."""

    kind: Literal["put", "delete"]
    key: bytes
    value: bytes
    mod_revision: int  # the revision of this change


@dataclass(frozen=True, slots=True)
class WatchBatch:
    """The events of one or more whole revisions, in order; ``revision`` is the last one."""

    events: tuple[WatchEvent, ...]
    revision: int


class WatchCompacted(StoreError):
    """etcd compacted away revisions the watch needed: read the state again."""

    code = "compacted"

    def __init__(self, wanted: int, compact_revision: int) -> None:
        super().__init__(
            f"etcd compacted its history up to revision {compact_revision}; "
            f"a watch from revision {wanted} cannot resume"
        )
        self.compact_revision = compact_revision


class _StreamLost(Exception):
    """This attempt is over (dropped, silent or cancelled by etcd); resume elsewhere."""


async def watch(
    open_channel: OpenChannel,
    endpoints: Sequence[str],
    *,
    first: int,
    key: bytes,
    range_end: bytes,
    start_revision: int,
    timeout: float,  # noqa: ASYNC109 - the deadline of creating a watch and of each answer
    progress_interval: float,
) -> AsyncGenerator[WatchBatch, None]:
    """See :meth:`~edgeway.controlplane.store.client.EtcdClient.watch`."""
    next_revision = start_revision
    index = first % len(endpoints)
    failures = 0
    while True:
        attempt = _Attempt(open_channel(index), timeout, progress_interval)
        try:
            async with contextlib.aclosing(attempt.run(key, range_end, next_revision)) as batches:
                async for batch in batches:
                    failures = 0
                    next_revision = batch.revision + 1
                    yield batch
            reason = "etcd ended the stream"
        except (_StreamLost, aetcd.ClientError, grpc.aio.AioRpcError, OSError) as exc:
            reason = reason_of(exc)
        if attempt.created:
            failures = 0
        failures += 1
        delay = random.uniform(0, min(_BACKOFF_MAX, _BACKOFF_FIRST * 2 ** (failures - 1)))
        log.warning("etcd watch interrupted, resuming", endpoint=endpoints[index],
                    reason=reason, revision=next_revision, retry_in=round(delay, 3))
        index = (index + 1) % len(endpoints)
        await asyncio.sleep(delay)


class _Attempt:
    """One Watch call on one endpoint."""

    def __init__(self, channel: grpc.aio.Channel, timeout: float, progress_interval: float):
        self._channel = channel
        self._timeout = timeout
        self._interval = progress_interval
        self.created = False

    async def run(
        self, key: bytes, range_end: bytes, revision: int
    ) -> AsyncGenerator[WatchBatch, None]:
        call = aetcd.rpc.WatchStub(self._channel).Watch()
        ticker: asyncio.Task[None] | None = None
        try:
            create = aetcd.rpc.WatchCreateRequest(key=key, range_end=range_end,
                                                  start_revision=revision)
            async with asyncio.timeout(self._timeout):
                await call.write(aetcd.rpc.WatchRequest(create_request=create))
                response = await self._read(call)
            if response.compact_revision:
                raise WatchCompacted(revision, int(response.compact_revision))
            if not response.created or response.canceled:
                raise _StreamLost(f"watch not created: {response.cancel_reason or 'no reason'}")
            self.created = True
            ticker = asyncio.create_task(self._ask_progress(call))
            while True:
                async with asyncio.timeout(self._interval + self._timeout):
                    response = await self._read(call)
                if response.compact_revision:
                    raise WatchCompacted(revision, int(response.compact_revision))
                if response.canceled:
                    raise _StreamLost(f"etcd cancelled the watch: {response.cancel_reason}")
                if response.events:
                    batch = _batch(response.events)
                    revision = batch.revision + 1
                    yield batch
        except TimeoutError:
            raise _StreamLost("etcd did not answer within the deadline") from None
        finally:
            if ticker is not None:
                await stop_tasks(ticker)  # a cancellation of the watch itself goes on
            call.cancel()
            await self._channel.close(None)

    async def _read(self, call: Any) -> Any:
        response = await call.read()
        if response is EOF:
            raise _StreamLost("etcd closed the watch stream")
        return response

    async def _ask_progress(self, call: Any) -> None:
        """Ask for a progress notification now and then: its answer proves the stream alive."""
        request = aetcd.rpc.WatchRequest(progress_request=aetcd.rpc.WatchProgressRequest())
        while True:
            await asyncio.sleep(self._interval)
            try:
                async with asyncio.timeout(self._timeout):
                    await call.write(request)
            except (TimeoutError, grpc.aio.AioRpcError, grpc.aio.UsageError):
                return  # the reader's deadline ends the attempt


def _batch(events: Sequence[Any]) -> WatchBatch:
    converted = tuple(
        WatchEvent(
            kind="delete" if event.type == aetcd.rpc.Event.DELETE else "put",
            key=bytes(event.kv.key),
            value=bytes(event.kv.value),
            mod_revision=int(event.kv.mod_revision),
        )
        for event in events
    )
    return WatchBatch(converted, max(e.mod_revision for e in converted))

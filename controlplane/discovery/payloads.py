"""The push for a (stage, version): rendered, hashed and serialized once, shared by every edge.

Building a payload reads the version from the store, renders it for the stage (stage variables,
:func:`~edgeway.common.config.variables.render_for_stage`), and serializes
``ServerMessage{push: ConfigPush{stage, version, hash, config}}`` once; ``hash`` is the content
hash of the rendered config's canonical bytes. A version never changes and its stage variables
live inside it, so the same (stage, version) gives the same bytes on every replica.

Each edge's push is those shared bytes followed by a small ``ServerMessage{push: {nonce,
trace_context}}``: protobuf merges repeated occurrences of a message field, so the edge parses a
single ConfigPush holding both, and no per-edge work touches the config.

:class:`PushCache` builds each payload once (concurrent requests wait for the same build), off
the event loop for big configs, and keeps the most recently used ones. A rendering that fails
(``ConfigInvalid``) is kept as such, since it would fail again; a store error is not.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from edgeway.common.config.canonical import canonical_bytes, hash_bytes
from edgeway.common.config.variables import render_for_stage
from edgeway.common.errors import ConfigInvalid
from edgeway.common.tasks import stop_tasks
from edgeway.controlplane.store import Version
from edgeway.v1.discovery_pb2 import ConfigPush, ServerMessage

__all__ = ["Payload", "PushCache", "build_payload"]

LARGE = 256 * 1024  # canonical bytes above which building runs in a worker thread


@dataclass(frozen=True, slots=True)
class Payload:
    """The shared part of every push of ``version`` to ``stage``."""

    stage: str
    version: int
    hash: str  # "sha256:<hex>" of the rendered config's canonical bytes
    message: bytes  # serialized ServerMessage{push: {stage, version, hash, config}}

    def for_edge(self, nonce: str, trace_context: Mapping[str, str]) -> bytes:
        """The serialized ServerMessage for one edge: shared bytes + its nonce and context."""
        tail = ServerMessage(push=ConfigPush(nonce=nonce, trace_context=dict(trace_context)))
        return self.message + tail.SerializeToString()


def build_payload(stage: str, version: Version) -> Payload:
    """Render ``version`` for ``stage`` and serialize its push (CPU-bound; raises
    :class:`~edgeway.common.errors.ConfigInvalid` when the rendering is not a valid config)."""
    rendered = render_for_stage(version.config, stage)
    digest = hash_bytes(canonical_bytes(rendered))
    push = ConfigPush(stage=stage, version=version.meta.number, hash=digest)
    push.config.CopyFrom(rendered)
    message = ServerMessage(push=push).SerializeToString(deterministic=True)
    return Payload(stage, version.meta.number, digest, message)


class PushCache:
    """Payloads by (stage, version): built once, at most ``capacity`` kept (least recently used
    go first). A failed build is not kept, so the next request tries again."""

    def __init__(
        self, load: Callable[[int], Awaitable[Version]], *, capacity: int = 16
    ) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._load = load
        self._capacity = capacity
        self._entries: OrderedDict[tuple[str, int], asyncio.Task[Payload]] = OrderedDict()
        self.builds = 0  # how many payloads were built (for tests and metrics)

    async def get(self, stage: str, version: int) -> Payload:
        key = (stage, version)
        task = self._entries.get(key)
        if task is None or (task.done() and not _reusable(task)):
            task = asyncio.create_task(self._build(stage, version), name=f"push {stage} v{version}")
            self._entries[key] = task
            self._evict()
        self._entries.move_to_end(key)
        # Shielded: a session that goes away must not cancel a build others wait for.
        return await asyncio.shield(task)

    def prefetch(self, stage: str, version: int) -> None:
        """Start building in the background (errors surface at :meth:`get`)."""
        if (stage, version) not in self._entries:
            task = asyncio.create_task(self._build(stage, version), name=f"push {stage} v{version}")
            task.add_done_callback(_consume_error)
            self._entries[(stage, version)] = task
            self._evict()

    async def close(self) -> None:
        """Cancel builds in progress and forget everything."""
        tasks = list(self._entries.values())
        self._entries.clear()
        await stop_tasks(*tasks)

    async def _build(self, stage: str, version: int) -> Payload:
        loaded = await self._load(version)
        self.builds += 1
        if loaded.meta.size > LARGE:
            return await asyncio.to_thread(build_payload, stage, loaded)
        return build_payload(stage, loaded)

    def _evict(self) -> None:
        while len(self._entries) > self._capacity:
            for key, task in self._entries.items():
                if task.done():  # never drop a build someone may be waiting for
                    del self._entries[key]
                    break
            else:
                return


def _reusable(task: asyncio.Task[Payload]) -> bool:
    """A finished build whose outcome stands: a payload, or a config that does not render."""
    if task.cancelled():
        return False
    error = task.exception()
    return error is None or isinstance(error, ConfigInvalid)


def _consume_error(task: asyncio.Task[Payload]) -> None:
    if not task.cancelled():
        task.exception()  # retrieved here so asyncio does not log it; get() raises it again

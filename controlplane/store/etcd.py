"""The versioned config store over etcd: :class:`EtcdStore`.

Key layout (``<prefix>`` is ``/edgeway`` by default; numbers are zero-padded to 10 digits)::

    <prefix>/meta/latest-version           {"number": N, "hash": "sha256:..."}: the newest version
    <prefix>/versions/<N>                  version record (JSON): number, hash, parent, author,
                                           message, created_at, size, encoding ("zlib"),
                                           stored_size and chunks (sha256 hex digests, in order)
    <prefix>/chunks/<sha256 hex>           at most chunk_size bytes of a zlib-compressed canonical
                                           config, stored under the digest of its own bytes
    <prefix>/stages/<name>                 stage record: name, version, deployment, created_at,
                                           updated_at, trace_context (W3C, of the deployment;
                                           absent when empty) and created_by for explicit creation
    <prefix>/deployments/<name>/<id>       deployment record: id, stage, action, version,
                                           previous_version, author, message, created_at,
                                           source_stage, rollback_to, trace_context
    <prefix>/nodes/<node_id>               fleet registry: one JSON record per connected edge,
                                           attached to the lease of the control-plane replica
                                           it is connected to (see controlplane/discovery)
    <prefix>/nacks/<node_id>               the last config hash an edge NACKed, with its error,
                                           so no replica pushes it to that edge again (no lease)

Creating a version: the config's chunks are written first, one request each, so no request comes
near etcd's 1.5 MiB limit however large the config; then ONE transaction, conditioned on the
latest-version pointer's mod revision (or its absence) and on ``versions/<N+1>`` being absent,
writes the version record and moves the pointer. A writer that loses the race gets the new
pointer back from the transaction's failure branch and retries with N+2 after a short jittered
pause (at most :data:`MAX_APPLY_ATTEMPTS` times), so numbers are unique and without gaps. A
config whose hash equals the latest version's creates nothing. Chunks of a failed apply stay
behind unreferenced (content-addressed, so harmless; a later cleanup may delete them).

Changing a stage: ONE transaction conditioned on the stage key's mod revision as read (or its
absence), and on the new deployment key being absent, writes the stage record and the deployment
record. A lost race raises :class:`Conflict` and writes nothing, so no update is ever lost.

Watching stages (:meth:`EtcdStore.watch_stages`): a snapshot of ``stages/`` read at revision R,
then a watch from R+1 (see :mod:`._stage_watch`).

Endpoints fail over in the order given (see :mod:`.client`).
"""

from __future__ import annotations

import asyncio
import functools
import random
import time
from collections.abc import AsyncGenerator, Callable, Coroutine, Mapping, Sequence
from typing import Any, Concatenate, ParamSpec, TypeVar

from opentelemetry import trace

from edgeway.controlplane.store import _blobs, _stage_watch
from edgeway.controlplane.store._records import (
    MAX_NUMBER,
    Keys,
    Latest,
    StoredVersion,
    decode_deployment,
    decode_latest,
    decode_stage,
    decode_version,
    encode_latest,
    encode_stage,
    encode_version,
)
from edgeway.controlplane.store._stages import StageWriter
from edgeway.controlplane.store.api import (
    ApplyResult,
    Conflict,
    Deployment,
    NotFound,
    Stage,
    StageChanges,
    Store,
    StoreError,
    StoreUnavailable,
    Version,
    VersionMeta,
    check_stage_name,
)
from edgeway.controlplane.store.client import (
    EtcdClient,
    Get,
    KeyValue,
    Put,
    key_absent,
    same_revision,
    unchanged,
)
from edgeway.v1.config_pb2 import GatewayConfig

__all__ = ["DEFAULT_CHUNK_SIZE", "MAX_APPLY_ATTEMPTS", "MAX_CHUNK_SIZE", "EtcdStore"]

DEFAULT_CHUNK_SIZE = 1024 * 1024
# etcd refuses requests over 1.5 MiB by default; a chunk put carries key and framing besides.
MAX_CHUNK_SIZE = 1536 * 1024 - 16 * 1024
MAX_APPLY_ATTEMPTS = 64
_READ_BATCH = 16  # chunks fetched per read transaction
_WRITE_PARALLEL = 4  # chunk puts in flight at once

_tracer = trace.get_tracer("edgeway.controlplane.store")

S = TypeVar("S", bound="EtcdStore")
P = ParamSpec("P")
R = TypeVar("R")


Method = Callable[Concatenate[S, P], Coroutine[Any, Any, R]]


def _traced(op: str) -> Callable[[Method[S, P, R]], Method[S, P, R]]:
    """Wrap a store method in an ``edgeway.store <op>`` span.

    Refusals of the request (not found, conflict, invalid name) only tag the span with the error
    code; an unreachable or broken store, or an unexpected exception, marks it as an error.
    """

    def decorate(method: Method[S, P, R]) -> Method[S, P, R]:
        @functools.wraps(method)
        async def traced(self: S, /, *args: P.args, **kwargs: P.kwargs) -> R:
            with _tracer.start_as_current_span(
                f"edgeway.store {op}", record_exception=False, set_status_on_exception=False
            ) as span:
                try:
                    return await method(self, *args, **kwargs)
                except StoreError as exc:
                    span.set_attribute("edgeway.store.error", exc.code)
                    if isinstance(exc, StoreUnavailable) or type(exc) is StoreError:
                        span.set_status(trace.Status(trace.StatusCode.ERROR, str(exc)))
                    raise
                except Exception as exc:
                    span.record_exception(exc)
                    span.set_status(trace.Status(trace.StatusCode.ERROR, str(exc)))
                    raise

        return traced

    return decorate


class EtcdStore(Store):
    """:class:`Store` over an etcd cluster; replicas sharing one prefix see one store."""

    def __init__(
        self,
        endpoints: Sequence[str],
        *,
        prefix: str = "/edgeway",
        timeout: float = 5.0,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
    ) -> None:
        """No I/O here; :meth:`connect` also checks that etcd answers."""
        if not 1024 <= chunk_size <= MAX_CHUNK_SIZE:
            raise ValueError(f"chunk_size must be 1024..{MAX_CHUNK_SIZE} bytes, not {chunk_size}")
        self._keys = Keys(prefix)
        self._client = EtcdClient(endpoints, timeout=timeout)
        self._chunk_size = chunk_size
        self._stages = StageWriter(self._client, self._keys)

    @classmethod
    async def connect(
        cls,
        endpoints: Sequence[str],
        *,
        prefix: str = "/edgeway",
        timeout: float = 5.0,  # noqa: ASYNC109 - the deadline of every etcd call
        chunk_size: int = DEFAULT_CHUNK_SIZE,
    ) -> EtcdStore:
        """A store whose etcd answered one read; else :class:`StoreUnavailable` naming each."""
        store = cls(endpoints, prefix=prefix, timeout=timeout, chunk_size=chunk_size)
        try:
            await store._client.get(store._keys.latest)
        except BaseException:
            await store.close()
            raise
        return store

    @property
    def prefix(self) -> str:
        return self._keys.prefix

    @property
    def endpoints(self) -> tuple[str, ...]:
        return self._client.endpoints

    @property
    def etcd(self) -> EtcdClient:
        """The etcd client underneath, for neighbours that keep their own keys (the fleet
        registry of :mod:`edgeway.controlplane.discovery`)."""
        return self._client

    @property
    def keys(self) -> Keys:
        """Where every key of this store lives."""
        return self._keys

    async def close(self) -> None:
        await self._client.close()

    # -- versions ----------------------------------------------------------------------------

    @_traced("create_version")
    async def create_version(
        self, config: GatewayConfig, *, author: str, message: str
    ) -> ApplyResult:
        # The size is unknown until serialized, so serializing and hashing always leave the loop.
        canonical = await asyncio.to_thread(_blobs.canonicalize, config)
        seen = await self._client.get(self._keys.latest)
        latest = self._latest(seen)
        if latest is not None and latest.hash == canonical.hash:
            return ApplyResult(await self.get_version_meta(latest.number), created=False)
        size = len(canonical.data)
        packed = await _blobs.offload(size, _blobs.pack, canonical.data, self._chunk_size)
        await self._write_chunks(packed.chunks)
        for attempt in range(MAX_APPLY_ATTEMPTS):
            number = latest.number + 1 if latest is not None else 1
            meta = VersionMeta(
                number=number,
                hash=canonical.hash,
                parent=latest.number if latest is not None else None,
                author=author,
                message=message,
                created_at=time.time(),
                size=size,
            )
            stored = StoredVersion(meta, tuple(c.digest for c in packed.chunks), packed.stored_size)
            result = await self._client.txn(
                compare=[
                    unchanged(self._keys.latest, seen),
                    key_absent(self._keys.version(number)),
                ],
                success=[
                    Put(self._keys.version(number), encode_version(stored)),
                    Put(self._keys.latest, encode_latest(Latest(number, canonical.hash))),
                ],
                failure=[Get(self._keys.latest)],
            )
            if result.succeeded:
                return ApplyResult(meta, created=True)
            now_seen = result.gets[0]
            if same_revision(now_seen, seen):
                raise StoreError(
                    f"store at {self._keys.prefix} is inconsistent: version {number} exists but "
                    f"the latest-version pointer says {number - 1}"
                )
            seen, latest = now_seen, self._latest(now_seen)
            if latest is not None and latest.hash == canonical.hash:
                return ApplyResult(await self.get_version_meta(latest.number), created=False)
            await asyncio.sleep(random.uniform(0, 0.002 * min(attempt + 1, 10)))
        raise Conflict(
            f"could not allocate a version number: other applies won the race "
            f"{MAX_APPLY_ATTEMPTS} times in a row; retry"
        )

    @_traced("get_version")
    async def get_version(self, number: int) -> Version:
        stored = await self._stored_version(number)
        what = f"version {number}"
        keys = [self._keys.chunk(d) for d in stored.chunks]
        pieces: list[bytes | None] = []
        for start in range(0, len(keys), _READ_BATCH):
            found = await self._client.read(keys[start : start + _READ_BATCH])
            pieces.extend(kv.value if kv is not None else None for kv in found)
        config = await _blobs.offload(
            stored.meta.size, _blobs.unpack, what, stored.chunks, pieces, stored.meta.hash
        )
        return Version(stored.meta, config)

    @_traced("get_version_meta")
    async def get_version_meta(self, number: int) -> VersionMeta:
        return (await self._stored_version(number)).meta

    @_traced("latest_version")
    async def latest_version(self) -> VersionMeta | None:
        latest = self._latest(await self._client.get(self._keys.latest))
        return None if latest is None else await self.get_version_meta(latest.number)

    @_traced("list_versions")
    async def list_versions(
        self, *, limit: int = 50, before: int | None = None
    ) -> list[VersionMeta]:
        _check_limit(limit)
        latest = self._latest(await self._client.get(self._keys.latest))
        top = latest.number if latest is not None else 0
        if before is not None:
            top = min(top, before - 1)
        if top < 1:
            return []
        low = max(1, top - limit + 1)
        found = await self._client.range(self._keys.version(low), self._keys.version(top + 1))
        return [decode_version(kv.key, kv.value).meta for kv in reversed(found)]

    async def _stored_version(self, number: int) -> StoredVersion:
        if not 1 <= number <= MAX_NUMBER:
            raise NotFound(f"version {number} not found")
        found = await self._client.get(self._keys.version(number))
        if found is None:
            raise NotFound(f"version {number} not found")
        return decode_version(found.key, found.value)

    async def _write_chunks(self, chunks: Sequence[_blobs.Chunk]) -> None:
        """Put every chunk, a few at a time; re-putting a chunk is harmless (same bytes)."""
        gate = asyncio.Semaphore(_WRITE_PARALLEL)

        async def put(chunk: _blobs.Chunk) -> None:
            async with gate:
                await self._client.put(self._keys.chunk(chunk.digest), chunk.data, idempotent=True)

        try:
            async with asyncio.TaskGroup() as group:
                for chunk in chunks:
                    group.create_task(put(chunk))
        except ExceptionGroup as failed:  # callers expect the store error itself
            raise failed.exceptions[0] from None

    def _latest(self, found: KeyValue | None) -> Latest | None:
        return None if found is None else decode_latest(found.key, found.value)

    # -- stages ------------------------------------------------------------------------------

    @_traced("create_stage")
    async def create_stage(self, name: str, *, author: str) -> Stage:
        check_stage_name(name)
        now = time.time()
        stage = Stage(name, version=None, deployment=None, created_at=now, updated_at=now)
        key = self._keys.stage(name)
        result = await self._client.txn(
            compare=[key_absent(key)], success=[Put(key, encode_stage(stage, created_by=author))]
        )
        if not result.succeeded:
            raise Conflict(f"stage {name!r} already exists")
        return stage

    @_traced("get_stage")
    async def get_stage(self, name: str) -> Stage:
        check_stage_name(name)
        found = await self._client.get(self._keys.stage(name))
        if found is None:
            raise NotFound(f"stage {name!r} not found")
        return decode_stage(found.key, found.value)

    @_traced("list_stages")
    async def list_stages(self) -> list[Stage]:
        found = await self._client.get_prefix(self._keys.stages)
        return sorted((decode_stage(kv.key, kv.value) for kv in found), key=lambda s: s.name)

    @_traced("deploy")
    async def deploy(self, stage: str, version: int, *, author: str, message: str,
                     trace_context: Mapping[str, str] | None = None) -> Deployment:
        return await self._stages.deploy(stage, version, author=author, message=message,
                                         trace_context=trace_context)

    @_traced("promote")
    async def promote(self, source: str, target: str, *, author: str, message: str,
                      trace_context: Mapping[str, str] | None = None) -> Deployment:
        return await self._stages.promote(source, target, author=author, message=message,
                                          trace_context=trace_context)

    @_traced("rollback")
    async def rollback(self, stage: str, *, to_deployment: int | None = None, author: str,
                       message: str, trace_context: Mapping[str, str] | None = None
                       ) -> Deployment:
        return await self._stages.rollback(stage, to_deployment=to_deployment, author=author,
                                           message=message, trace_context=trace_context)

    def watch_stages(self) -> AsyncGenerator[StageChanges, None]:
        return _stage_watch.watch_stages(self._client, self._keys)

    @_traced("history")
    async def history(
        self, stage: str, *, limit: int = 50, before: int | None = None
    ) -> list[Deployment]:
        _check_limit(limit)
        current = await self.get_stage(stage)
        top = current.deployment or 0
        if before is not None:
            top = min(top, before - 1)
        if top < 1:
            return []
        low = max(1, top - limit + 1)
        found = await self._client.range(
            self._keys.deployment(stage, low), self._keys.deployment(stage, top + 1)
        )
        return [decode_deployment(kv.key, kv.value) for kv in reversed(found)]


def _check_limit(limit: int) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"limit must be a positive integer, not {limit!r}")

"""The fleet registry in etcd: which edge is connected where, running what, and its last NACK.

Keys (under the store's prefix)::

    <prefix>/nodes/<node_id>   JSON record of a connected edge (see :class:`NodeState`),
                               attached to the lease of the replica it is connected to
    <prefix>/nacks/<node_id>   the last config the edge NACKed: hash, version, error, details,
                               build, at (no lease: it outlives connections and replicas)

Each replica holds one lease (TTL ``ttl`` seconds, kept alive every ``ttl / 3``); when the
replica dies its edges' records expire with it. If the lease is lost anyway (etcd unreachable
for longer than the TTL) a new one is granted and every record is written again.

Each session owns a :class:`NodeWriter` that writes the latest state of its record whenever it
changed, one write at a time. Its first write takes the key over (a reconnected edge's record
moves to its new replica); later writes and the final delete only apply while the key still
holds what this writer wrote last, so a replica that has not yet noticed an edge moved on can
neither overwrite nor delete the new connection's record.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog

from edgeway.controlplane.store import EtcdStore, Store, StoreError
from edgeway.controlplane.store._records import Keys
from edgeway.controlplane.store.client import Compare, Delete, EtcdClient, Get, Put

__all__ = ["FleetRegistry", "NackMemory", "NodeWriter", "list_nodes"]

log = structlog.get_logger(__name__)

_RETRY, _RETRY_MAX = 1.0, 10.0  # seconds before a failed registry write is tried again


def dump_json(data: dict[str, Any]) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


async def list_nodes(store: Store) -> list[dict[str, Any]]:
    """Every registered edge's record, sorted by stage, region and node id."""
    if not isinstance(store, EtcdStore):
        raise TypeError("the fleet registry lives in etcd: list_nodes needs an EtcdStore")
    found = await store.etcd.get_prefix(store.keys.nodes)
    nodes = []
    for kv in found:
        try:
            record = json.loads(kv.value)
        except ValueError:
            log.error("skipping a fleet record that is not JSON", key=kv.key.decode("replace"))
            continue
        if isinstance(record, dict):
            nodes.append(record)
    return sorted(nodes, key=lambda n: (str(n.get("stage")), str(n.get("region")),
                                        str(n.get("node_id"))))


@dataclass(frozen=True, slots=True)
class NackMemory:
    """A config an edge rejected; it is not pushed to that edge again (unless its build
    changed, since a newer edge may compile it)."""

    hash: str
    version: int | None
    error: str
    details: tuple[str, ...]
    build: str
    at: str  # ISO 8601

    def as_dict(self) -> dict[str, Any]:
        return {"hash": self.hash, "version": self.version, "error": self.error,
                "details": list(self.details), "build": self.build, "at": self.at}

    @classmethod
    def parse(cls, raw: bytes) -> NackMemory:
        data = json.loads(raw)
        return cls(str(data["hash"]), data.get("version"), str(data.get("error", "")),
                   tuple(str(d) for d in data.get("details", [])), str(data.get("build", "")),
                   str(data.get("at", "")))


class FleetRegistry:
    """This replica's part of the registry: its lease and its sessions' writers."""

    def __init__(self, store: EtcdStore, *, replica: str, ttl: int = 10) -> None:
        if ttl < 2:
            raise ValueError("the registry lease TTL must be at least 2 seconds")
        self.replica = replica
        self._client: EtcdClient = store.etcd
        self._keys: Keys = store.keys
        self._ttl = ttl
        self.lease = 0
        self._writers: set[NodeWriter] = set()
        self._keeper: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.lease = await self._client.grant_lease(self._ttl)
        self._keeper = asyncio.create_task(self._keep_alive(), name="registry lease")

    async def close(self, *, revoke: bool = True) -> None:
        """Stop keeping the lease alive; with ``revoke``, end it now (its records go with it)."""
        if self._keeper is not None:
            self._keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keeper
            self._keeper = None
        if revoke and self.lease:
            try:
                await self._client.revoke_lease(self.lease)
            except StoreError as exc:
                log.warning("could not revoke the registry lease; it expires on its own",
                            error=str(exc), ttl=self._ttl)

    def writer(self, node_id: str, record: Callable[[], dict[str, Any]]) -> NodeWriter:
        """A writer for ``node_id``'s record, whose content ``record()`` gives."""
        return NodeWriter(self, self._keys.node(node_id), record)

    async def load_nack(self, node_id: str) -> NackMemory | None:
        found = await self._client.get(self._keys.nack(node_id))
        if found is None:
            return None
        try:
            return NackMemory.parse(found.value)
        except (ValueError, KeyError, TypeError):
            log.error("ignoring a NACK record that does not decode", node_id=node_id)
            return None

    async def save_nack(self, node_id: str, memory: NackMemory) -> None:
        await self._client.put(self._keys.nack(node_id), dump_json(memory.as_dict()),
                               idempotent=True)

    async def forget_nack(self, node_id: str) -> None:
        await self._client.txn([], [Delete(self._keys.nack(node_id))], idempotent=True)

    async def _keep_alive(self) -> None:
        while True:
            await asyncio.sleep(self._ttl / 3)
            try:
                if await self._client.keepalive_lease(self.lease) > 0:
                    continue
                log.warning("the registry lease expired; granting a new one", replica=self.replica)
                self.lease = await self._client.grant_lease(self._ttl)
            except StoreError as exc:
                log.warning("cannot keep the registry lease alive", error=str(exc))
                continue
            for writer in list(self._writers):
                writer.changed(rewrite=True)


class NodeWriter:
    """Writes one session's node record to etcd: the latest content, whenever it changed."""

    def __init__(self, registry: FleetRegistry, key: bytes, record: Callable[[], dict[str, Any]]):
        self._registry = registry
        self._client = registry._client
        self._key = key
        self._record = record
        self._dirty = asyncio.Event()
        self._written: bytes | None = None
        self._rewrite = False
        self.lost = False  # another connection of the same node took the key over
        self.writes = 0

    def changed(self, *, rewrite: bool = False) -> None:
        """The record may have changed (it is written if it differs from the last write);
        ``rewrite``: write it even if not (e.g. under a new lease)."""
        self._rewrite = self._rewrite or rewrite
        self._dirty.set()

    async def run(self) -> None:
        """Write until cancelled; a failed write is retried after a growing pause (1 s to
        10 s), logged once per outage rather than once per attempt."""
        self._registry._writers.add(self)
        failures = 0
        try:
            while not self.lost:
                await self._dirty.wait()
                self._dirty.clear()
                value = dump_json(self._record())
                if value == self._written and not self._rewrite:
                    continue
                self._rewrite = False
                try:
                    await self._write(value)
                except StoreError as exc:
                    failures += 1
                    if failures == 1:
                        log.warning("cannot write a fleet record; retrying",
                                    key=self._key.decode("replace"), error=str(exc))
                    await asyncio.sleep(min(_RETRY_MAX, _RETRY * 2 ** (failures - 1)))
                    self.changed(rewrite=True)
                    continue
                if failures:
                    log.info("fleet record written again", key=self._key.decode("replace"),
                             attempts=failures + 1)
                    failures = 0
        finally:
            self._registry._writers.discard(self)

    async def remove(self) -> None:
        """Delete the record if it is still this writer's."""
        if self._written is None or self.lost:
            return
        try:
            await self._client.txn([Compare(self._key, "value", "==", self._written)],
                                   [Delete(self._key)])
        except StoreError as exc:
            log.warning("cannot delete a fleet record; it expires with the lease",
                        key=self._key.decode("replace"), error=str(exc))

    async def _write(self, value: bytes) -> None:
        put = Put(self._key, value, lease=self._registry.lease)
        if self._written is None:
            await self._client.txn([], [put])
        else:
            result = await self._client.txn(
                [Compare(self._key, "value", "==", self._written)], [put], [Get(self._key)])
            if not result.succeeded:
                current = result.gets[0]
                if current is not None and current.value != value:
                    self.lost = True
                    log.info("fleet record taken over by another connection",
                             key=self._key.decode("replace"))
                    return
                if current is None:  # expired with a lost lease, or deleted: write it again
                    await self._client.txn([], [put])
        self._written = value
        self.writes += 1

"""Typed access to etcd with deadlines and endpoint failover: the one module that touches aetcd.

``aetcd`` is untyped; everything it returns is turned into :class:`KeyValue` and
:class:`TxnResult` here, and every error it raises into a store error:

- the endpoint cannot be reached (gRPC ``UNAVAILABLE``, connection refused, DNS failure) —
  the call is sent to the next endpoint; when all of them fail, :class:`StoreUnavailable`
  names each endpoint and why;
- the deadline passes (``timeout`` per attempt, enforced by gRPC and by an asyncio timeout) —
  reads and calls marked ``idempotent`` fail over too; other writes raise
  :class:`StoreUnavailable` at once, since the write may have been applied;
- anything else etcd answers (e.g. a request over its size limit) — :class:`StoreError`.

Failover is sticky: the endpoint that answered last is tried first by the next call. A write
sent again to the next endpoint after a dropped connection is safe for the store's writes: chunk
puts are content-addressed, and transactions compare revisions, so a replayed one fails its
compare rather than applying twice.

Range reads with ``limit`` and sort order go through aetcd's KV stub directly, because
``aetcd.Client.get_range`` does not forward them.

Leases (:meth:`EtcdClient.grant_lease`, :meth:`~EtcdClient.keepalive_lease`,
:meth:`~EtcdClient.revoke_lease`) are single calls with the same failover; :class:`Put` takes a
lease id. :meth:`EtcdClient.watch` streams changes of a key range from a revision on, resuming
after a dropped stream or a failed-over endpoint without losing an event (see :mod:`._watch`).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from typing import Any, TypeVar
from urllib.parse import urlsplit

import aetcd
import aetcd.rpc
import aetcd.utils
import grpc
import grpc.aio
from grpc.aio import EOF  # type: ignore[attr-defined]  # not in grpc-stubs

from edgeway.controlplane.store import _watch
from edgeway.controlplane.store._ops import (
    Compare,
    Delete,
    Get,
    KeyValue,
    Put,
    TxnResult,
    key_absent,
    key_present,
    same_revision,
    to_compare,
    to_operation,
    unchanged,
)
from edgeway.controlplane.store._rpc import kind_of, reason_of, show_endpoint
from edgeway.controlplane.store._watch import WatchBatch, WatchCompacted, WatchEvent
from edgeway.controlplane.store.api import StoreError, StoreUnavailable

__all__ = [
    "Compare",
    "Delete",
    "EtcdClient",
    "Get",
    "KeyValue",
    "Put",
    "TxnResult",
    "WatchBatch",
    "WatchCompacted",
    "WatchEvent",
    "key_absent",
    "key_present",
    "parse_endpoint",
    "prefix_end",
    "same_revision",
    "unchanged",
]

T = TypeVar("T")

_CHANNEL_OPTIONS: dict[str, int] = {
    # Values are at most etcd's 1.5 MiB request limit, but a range read returns many of them.
    "grpc.max_receive_message_length": 256 * 1024 * 1024,
    # gRPC's default reconnect backoff grows to 120 s; an etcd member that comes back should be
    # used again within seconds.
    "grpc.initial_reconnect_backoff_ms": 250,
    "grpc.min_reconnect_backoff_ms": 250,
    "grpc.max_reconnect_backoff_ms": 3000,
    # A connection that went silent (peer gone without a reset) is found within ~15 s. Only
    # while calls are open, and not below etcd's --grpc-keepalive-min-time (5 s by default).
    "grpc.keepalive_time_ms": 10_000,
    "grpc.keepalive_timeout_ms": 5_000,
    "grpc.http2.ping_timeout_ms": 5_000,  # what actually bounds the wait for a ping's answer
}


def parse_endpoint(endpoint: str) -> tuple[str, int]:
    """``"host:port"``, ``"http://host:port"`` or ``"[::1]:2379"`` to ``(host, port)``."""
    text = endpoint.strip()
    parts = urlsplit(text if "://" in text else f"http://{text}")
    if parts.scheme != "http":
        raise ValueError(f"etcd endpoint {endpoint!r}: only http:// endpoints are supported")
    try:
        port = parts.port
    except ValueError:
        port = None
    if not parts.hostname or port is None or parts.path not in ("", "/"):
        raise ValueError(f"etcd endpoint {endpoint!r} is not host:port or http://host:port")
    return parts.hostname, port


def prefix_end(prefix: bytes) -> bytes:
    """The ``range_end`` that selects every key starting with ``prefix``."""
    end: bytes = aetcd.utils.prefix_range_end(prefix)
    return end


class _Unreachable(Exception):
    """This endpoint could not be used; try the next one."""


class EtcdClient:
    """A few KV operations over one etcd cluster, with deadlines and endpoint failover."""

    def __init__(self, endpoints: Sequence[str], *, timeout: float = 5.0) -> None:
        if isinstance(endpoints, str):
            endpoints = [endpoints]
        if not endpoints:
            raise ValueError("give at least one etcd endpoint (host:port)")
        if not (timeout > 0 and math.isfinite(timeout)):
            raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
        self._addresses = [parse_endpoint(e) for e in endpoints]
        self.endpoints: tuple[str, ...] = tuple(show_endpoint(h, p) for h, p in self._addresses)
        self.timeout = timeout
        self._clients: list[Any] = [
            aetcd.Client(host=h, port=p, timeout=timeout, options=_CHANNEL_OPTIONS)
            for h, p in self._addresses
        ]
        self._active = 0
        self._closed = False

    # -- operations --------------------------------------------------------------------------

    async def get(self, key: bytes) -> KeyValue | None:
        async def op(client: Any) -> KeyValue | None:
            found = await client.get(key)
            return None if found is None else KeyValue._of(found)

        return await self._call("get", op, idempotent=True)

    async def range(
        self,
        start: bytes,
        end: bytes,
        *,
        limit: int = 0,
        descending: bool = False,
        keys_only: bool = False,
    ) -> list[KeyValue]:
        """Keys in ``[start, end)`` in key order (reversed if ``descending``); 0 = no limit."""
        found, _ = await self._range(start, end, limit, descending, keys_only)
        return found

    async def snapshot(self, prefix: bytes) -> tuple[list[KeyValue], int]:
        """Every key under ``prefix`` and the store revision they were read at (for a watch)."""
        return await self._range(prefix, prefix_end(prefix), 0, False, False)

    async def _range(
        self, start: bytes, end: bytes, limit: int, descending: bool, keys_only: bool
    ) -> tuple[list[KeyValue], int]:
        order = aetcd.rpc.RangeRequest.DESCEND if descending else aetcd.rpc.RangeRequest.ASCEND
        request = aetcd.rpc.RangeRequest(
            key=start,
            range_end=end,
            limit=limit,
            sort_order=order,
            sort_target=aetcd.rpc.RangeRequest.KEY,
            keys_only=keys_only,
        )

        async def op(client: Any) -> tuple[list[KeyValue], int]:
            await client.connect()
            response = await client.kvstub.Range(
                request, timeout=self.timeout, metadata=client.metadata
            )
            return [KeyValue._of(kv) for kv in response.kvs], int(response.header.revision)

        return await self._call("range", op, idempotent=True)

    async def get_prefix(self, prefix: bytes, *, keys_only: bool = False) -> list[KeyValue]:
        return await self.range(prefix, prefix_end(prefix), keys_only=keys_only)

    async def put(
        self, key: bytes, value: bytes, *, lease: int = 0, idempotent: bool = False
    ) -> None:
        async def op(client: Any) -> None:
            await client.put(key, value, lease=lease or None)

        await self._call("put", op, idempotent=idempotent)

    async def delete_prefix(self, prefix: bytes) -> int:
        async def op(client: Any) -> int:
            deleted = await client.delete_prefix(prefix)
            return int(deleted.deleted)

        return await self._call("delete", op, idempotent=True)

    async def txn(
        self,
        compare: Sequence[Compare],
        success: Sequence[Put | Get | Delete],
        failure: Sequence[Put | Get | Delete] = (),
        *,
        idempotent: bool = False,
    ) -> TxnResult:
        """Run ``success`` if every compare holds, else ``failure``, atomically."""

        async def op(client: Any) -> TxnResult:
            succeeded, responses = await client.transaction(
                compare=[to_compare(client, c) for c in compare],
                success=[to_operation(client, o) for o in success],
                failure=[to_operation(client, o) for o in failure],
            )
            gets = tuple(
                KeyValue._of(r[0][1]) if r else None for r in responses if isinstance(r, list)
            )
            return TxnResult(bool(succeeded), gets)

        return await self._call("transaction", op, idempotent=idempotent)

    async def read(self, keys: Sequence[bytes]) -> tuple[KeyValue | None, ...]:
        """Several keys in one round trip, from one consistent revision."""
        result = await self.txn([], [Get(k) for k in keys], idempotent=True)
        return result.gets

    # -- leases ------------------------------------------------------------------------------

    async def grant_lease(self, ttl: int) -> int:
        """A new lease of ``ttl`` seconds; returns its id. (A lease granted twice by a retry
        after a lost answer is unused and simply expires.)"""

        async def op(client: Any) -> int:
            granted = await client.lease(ttl)
            return int(granted.id)

        return await self._call("lease grant", op, idempotent=True)

    async def keepalive_lease(self, lease_id: int) -> int:
        """Refresh the lease; returns its TTL in seconds, 0 when it has expired or is unknown."""

        async def op(client: Any) -> int:
            await client.connect()
            call = client.leasestub.LeaseKeepAlive(
                iter([aetcd.rpc.LeaseKeepAliveRequest(ID=lease_id)]),
                timeout=self.timeout,
                metadata=client.metadata,
            )
            try:
                reply = await call.read()
            finally:
                call.cancel()
            return 0 if reply is EOF else max(0, int(reply.TTL))

        return await self._call("lease keepalive", op, idempotent=True)

    async def revoke_lease(self, lease_id: int) -> None:
        """End the lease now, deleting every key attached to it (an unknown lease is fine)."""

        async def op(client: Any) -> None:
            try:
                await client.revoke_lease(lease_id)
            except (aetcd.ClientError, grpc.aio.AioRpcError) as exc:
                if "lease not found" not in reason_of(exc):
                    raise

        await self._call("lease revoke", op, idempotent=True)

    # -- watches -----------------------------------------------------------------------------

    def watch(
        self, start: bytes, end: bytes, *, start_revision: int, progress_interval: float = 5.0
    ) -> AsyncGenerator[WatchBatch, None]:
        """Changes of ``[start, end)`` from ``start_revision`` on, batch by batch, forever.

        A dropped stream is resumed (on the next endpoint after a failure, with a short
        jittered backoff) at the revision after the last one delivered, so no event is lost
        or repeated; a silent stream is noticed within ``progress_interval`` + timeout. Raises
        :class:`WatchCompacted` when etcd no longer has the revisions needed: read again, then
        watch from the revision of that read. Close the iterator (``aclosing``) when done.
        """
        if self._closed:
            raise StoreError("the etcd client is closed")
        return _watch.watch(
            self._watch_channel,
            self.endpoints,
            first=self._active,
            key=start,
            range_end=end,
            start_revision=start_revision,
            timeout=self.timeout,
            progress_interval=progress_interval,
        )

    def _watch_channel(self, index: int) -> grpc.aio.Channel:
        """A channel of its own for one watch attempt on endpoint ``index``: a stream that went
        silent may sit on a dead connection, which a shared channel would keep using."""
        options = [*_CHANNEL_OPTIONS.items(), ("grpc.use_local_subchannel_pool", 1)]
        return grpc.aio.insecure_channel(self.endpoints[index], options=options)

    async def close(self) -> None:
        """Close every channel (errors while closing are ignored: nothing is left to do)."""
        self._closed = True
        for client in self._clients:
            try:
                await client.close()
            except Exception:
                continue

    # -- failover ----------------------------------------------------------------------------

    async def _call(
        self, what: str, op: Callable[[Any], Awaitable[T]], *, idempotent: bool
    ) -> T:
        if self._closed:
            raise StoreError("the etcd client is closed")
        failures: list[str] = []
        first = self._active
        for step in range(len(self._clients)):
            index = (first + step) % len(self._clients)
            try:
                result = await self._attempt(index, what, op, idempotent=idempotent)
            except _Unreachable as exc:
                failures.append(f"{self.endpoints[index]}: {exc}")
                continue
            self._active = index
            return result
        raise StoreUnavailable(f"etcd is unreachable ({'; '.join(failures)})")

    async def _attempt(
        self, index: int, what: str, op: Callable[[Any], Awaitable[T]], *, idempotent: bool
    ) -> T:
        endpoint = self.endpoints[index]
        late = f"no answer to {what} within {self.timeout:g}s"
        try:
            # gRPC enforces the deadline per RPC; this also bounds connecting and queuing.
            async with asyncio.timeout(self.timeout * 1.5 + 0.5):
                return await op(self._clients[index])
        except TimeoutError:
            if idempotent:
                raise _Unreachable(late) from None
            raise StoreUnavailable(f"etcd at {endpoint}: {late}") from None
        except (aetcd.ClientError, grpc.aio.AioRpcError) as exc:
            kind = kind_of(exc)
            if kind == "unreachable" or (kind == "late" and idempotent):
                raise _Unreachable(reason_of(exc)) from None
            if kind == "late":
                raise StoreUnavailable(f"etcd at {endpoint}: {late}") from None
            raise StoreError(f"etcd {what} failed at {endpoint}: {reason_of(exc)}") from exc

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
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

import aetcd
import aetcd.rpc
import aetcd.utils
import grpc
import grpc.aio

from edgeway.controlplane.store.api import StoreError, StoreUnavailable

__all__ = [
    "Compare",
    "EtcdClient",
    "Get",
    "KeyValue",
    "Put",
    "TxnResult",
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


@dataclass(frozen=True, slots=True)
class KeyValue:
    key: bytes
    value: bytes
    create_revision: int
    mod_revision: int
    version: int

    @classmethod
    def _of(cls, kv: Any) -> KeyValue:
        return cls(
            key=bytes(kv.key),
            value=bytes(kv.value),
            create_revision=int(kv.create_revision),
            mod_revision=int(kv.mod_revision),
            version=int(kv.version),
        )


@dataclass(frozen=True, slots=True)
class Compare:
    """One condition of a transaction, e.g. ``Compare(key, "mod", "==", 42)``."""

    key: bytes
    target: Literal["version", "mod", "create", "value"]
    op: Literal["==", "!=", "<", ">"]
    operand: int | bytes


def key_absent(key: bytes) -> Compare:
    return Compare(key, "version", "==", 0)


def key_present(key: bytes) -> Compare:
    return Compare(key, "version", ">", 0)


def unchanged(key: bytes, seen: KeyValue | None) -> Compare:
    """The key is as it was read: same mod revision, or still absent."""
    return key_absent(key) if seen is None else Compare(key, "mod", "==", seen.mod_revision)


def same_revision(a: KeyValue | None, b: KeyValue | None) -> bool:
    """Both absent, or both present at the same mod revision."""
    if a is None or b is None:
        return a is b
    return a.mod_revision == b.mod_revision


@dataclass(frozen=True, slots=True)
class Put:
    key: bytes
    value: bytes


@dataclass(frozen=True, slots=True)
class Get:
    key: bytes


@dataclass(frozen=True, slots=True)
class TxnResult:
    """Whether the compares held, and one result per :class:`Get` of the branch that ran."""

    succeeded: bool
    gets: tuple[KeyValue | None, ...]


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
        self.endpoints: tuple[str, ...] = tuple(_show(h, p) for h, p in self._addresses)
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
        order = aetcd.rpc.RangeRequest.DESCEND if descending else aetcd.rpc.RangeRequest.ASCEND
        request = aetcd.rpc.RangeRequest(
            key=start,
            range_end=end,
            limit=limit,
            sort_order=order,
            sort_target=aetcd.rpc.RangeRequest.KEY,
            keys_only=keys_only,
        )

        async def op(client: Any) -> list[KeyValue]:
            await client.connect()
            response = await client.kvstub.Range(
                request, timeout=self.timeout, metadata=client.metadata
            )
            return [KeyValue._of(kv) for kv in response.kvs]

        return await self._call("range", op, idempotent=True)

    async def get_prefix(self, prefix: bytes, *, keys_only: bool = False) -> list[KeyValue]:
        return await self.range(prefix, prefix_end(prefix), keys_only=keys_only)

    async def put(self, key: bytes, value: bytes, *, idempotent: bool = False) -> None:
        async def op(client: Any) -> None:
            await client.put(key, value)

        await self._call("put", op, idempotent=idempotent)

    async def delete_prefix(self, prefix: bytes) -> int:
        async def op(client: Any) -> int:
            deleted = await client.delete_prefix(prefix)
            return int(deleted.deleted)

        return await self._call("delete", op, idempotent=True)

    async def txn(
        self,
        compare: Sequence[Compare],
        success: Sequence[Put | Get],
        failure: Sequence[Put | Get] = (),
        *,
        idempotent: bool = False,
    ) -> TxnResult:
        """Run ``success`` if every compare holds, else ``failure``, atomically."""

        async def op(client: Any) -> TxnResult:
            succeeded, responses = await client.transaction(
                compare=[_compare(client, c) for c in compare],
                success=[_operation(client, o) for o in success],
                failure=[_operation(client, o) for o in failure],
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
            kind = _kind(exc)
            if kind == "unreachable" or (kind == "late" and idempotent):
                raise _Unreachable(_reason(exc)) from None
            if kind == "late":
                raise StoreUnavailable(f"etcd at {endpoint}: {late}") from None
            raise StoreError(f"etcd {what} failed at {endpoint}: {_reason(exc)}") from exc


def _status(exc: BaseException) -> grpc.StatusCode | None:
    """The gRPC status behind ``exc`` (aetcd wraps it, keeping it as the cause)."""
    current: BaseException | None = exc
    while current is not None:
        if isinstance(current, grpc.aio.AioRpcError):
            code: grpc.StatusCode = current.code()
            return code
        current = current.__cause__
    return None


def _kind(exc: Exception) -> Literal["unreachable", "late", "other"]:
    status = _status(exc)
    # UNIMPLEMENTED: something answers HTTP/2 there, but it is not etcd; try the next one.
    if status in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.UNIMPLEMENTED):
        return "unreachable"
    if status == grpc.StatusCode.DEADLINE_EXCEEDED:
        return "late"
    return "other"


def _reason(exc: Exception) -> str:
    status = _status(exc)
    text = str(exc) or type(exc).__name__
    if isinstance(exc, grpc.aio.AioRpcError):
        text = exc.details() or text
    if status == grpc.StatusCode.UNIMPLEMENTED:
        return f"not an etcd v3 server ({text})"
    return text


def _show(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _compare(client: Any, compare: Compare) -> Any:
    factory = {
        "version": client.transactions.version,
        "mod": client.transactions.mod,
        "create": client.transactions.create,
        "value": client.transactions.value,
    }[compare.target]
    subject = factory(compare.key)
    if compare.op == "==":
        return subject == compare.operand
    if compare.op == "!=":
        return subject != compare.operand
    if compare.op == "<":
        return subject < compare.operand
    return subject > compare.operand


def _operation(client: Any, operation: Put | Get) -> Any:
    if isinstance(operation, Put):
        return client.transactions.put(operation.key, operation.value)
    return client.transactions.get(operation.key)

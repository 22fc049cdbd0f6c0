"""Where cached responses live: a bounded in-process LRU, or Redis shared by the fleet.

An :class:`Entry` is a ready :class:`LocalResponse` (status, stored headers, body) and the
epoch time it was stored and expires. The Redis form is one value per key, a JSON head line
and the body, written with ``SET ... PX ttl`` so Redis drops it when it expires.

Fleet-wide fetch locks (``redis`` only): :meth:`RedisBackend.lock` is ``SET lock token NX PX``
(the token is the holder's own random value) and a read of the entry in the same round trip;
:meth:`RedisBackend.unlock` deletes the lock only if it still holds that token (a Lua
compare-and-delete, so a holder whose lock expired never deletes another's); and
:meth:`RedisBackend.peek` reads, in one round trip, whether the lock is still held and then the
entry (in that order: a holder stores before it unlocks, so a lock seen gone means the entry,
if any, is there).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from edgeway.edge.policies.base import LocalResponse

__all__ = ["Entry", "MemoryBackend", "RedisBackend", "decode_entry", "encode_entry"]

log = structlog.get_logger(__name__)

RETRY_S = 1.0

UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""
"""Delete lock ``KEYS[1]`` only while it holds token ``ARGV[1]``."""


@dataclass(frozen=True, slots=True)
class Entry:
    response: LocalResponse
    stored_at: float
    expires_at: float


def encode_entry(entry: Entry) -> bytes:
    head = [entry.response.status, entry.response.headers, entry.stored_at, entry.expires_at]
    return json.dumps(head, separators=(",", ":")).encode() + b"\n" + entry.response.body


def decode_entry(data: bytes) -> Entry:
    head, _, body = data.partition(b"\n")
    status, headers, stored_at, expires_at = json.loads(head)
    pairs = tuple((str(name), str(value)) for name, value in headers)
    return Entry(LocalResponse(int(status), pairs, body), float(stored_at), float(expires_at))


class MemoryBackend:
    """A bounded LRU of entries (by count and by body bytes)."""

    __slots__ = ("__weakref__", "_bytes", "_entries", "max_bytes", "max_entries")

    def __init__(self, max_entries: int, max_bytes: int) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, Entry] = OrderedDict()
        self._bytes = 0

    def get(self, key: str, now: float) -> Entry | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.expires_at <= now:
            self.delete(key)
            return None
        self._entries.move_to_end(key)
        return entry

    def put(self, key: str, entry: Entry) -> None:
        self.delete(key)
        self._entries[key] = entry
        self._bytes += len(entry.response.body)
        while self._entries and (
            len(self._entries) > self.max_entries or self._bytes > self.max_bytes
        ):
            _, dropped = self._entries.popitem(last=False)
            self._bytes -= len(dropped.response.body)

    def delete(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._bytes -= len(entry.response.body)

    def __len__(self) -> int:
        return len(self._entries)


class RedisBackend:
    """Entries in Redis; a failing Redis reads as a miss and is left alone for ``RETRY_S``."""

    __slots__ = ("__weakref__", "_down_until", "_unlock", "redis", "timeout")

    def __init__(self, redis: Redis, timeout: float) -> None:
        self.redis = redis
        self.timeout = timeout
        self._down_until = 0.0
        self._unlock: Any = redis.register_script(UNLOCK)

    def available(self) -> bool:
        return time.monotonic() >= self._down_until

    def _failed(self, exc: BaseException) -> None:
        self._down_until = time.monotonic() + RETRY_S
        log.warning("redis cache unavailable", error=repr(exc), retry_s=RETRY_S)

    async def get(self, key: str, now: float) -> Entry | None:
        try:
            async with asyncio.timeout(self.timeout):
                data = await self.redis.get(key)
        except (RedisError, OSError, TimeoutError) as exc:
            self._failed(exc)
            return None
        return _decoded(data, now)

    async def lock(self, lock: str, token: str, ttl_ms: int, key: str, now: float
                   ) -> tuple[bool | None, Entry | None]:  # fmt: skip
        """Take ``lock`` for ``ttl_ms``, then read the entry of ``key``, in one round trip:
        ``(True, _)`` taken, ``(False, _)`` held by another, ``(None, None)`` when Redis
        failed (the caller fetches: fail open). The entry is there when it was stored since
        the caller's lookup (the caller answers it, releasing a lock it took)."""
        try:
            async with asyncio.timeout(self.timeout):
                async with self.redis.pipeline(transaction=False) as pipe:
                    pipe.set(lock, token, nx=True, px=ttl_ms)
                    pipe.get(key)
                    taken, data = await pipe.execute()
        except (RedisError, OSError, TimeoutError) as exc:
            self._failed(exc)
            return None, None
        return bool(taken), _decoded(data, now)

    async def unlock(self, lock: str, token: str) -> None:
        """Release ``lock`` if it still holds ``token`` (else it expired and is another's)."""
        try:
            async with asyncio.timeout(self.timeout):
                await self._unlock(keys=[lock], args=[token])
        except (RedisError, OSError, TimeoutError) as exc:
            self._failed(exc)  # the lock expires by itself

    async def peek(self, lock: str, key: str, now: float) -> tuple[bool, Entry | None]:
        """Whether ``lock`` is held, then the entry of ``key``; ``(False, None)`` when Redis
        failed (the caller stops waiting)."""
        try:
            async with asyncio.timeout(self.timeout):
                async with self.redis.pipeline(transaction=False) as pipe:
                    pipe.exists(lock)
                    pipe.get(key)
                    held, data = await pipe.execute()
        except (RedisError, OSError, TimeoutError) as exc:
            self._failed(exc)
            return False, None
        return bool(held), _decoded(data, now)

    async def put(self, key: str, entry: Entry) -> None:
        ttl_ms = max(1, int((entry.expires_at - entry.stored_at) * 1000))
        try:
            async with asyncio.timeout(self.timeout):
                await self.redis.set(key, encode_entry(entry), px=ttl_ms)
        except (RedisError, OSError, TimeoutError) as exc:
            self._failed(exc)


def _decoded(data: bytes | str | None, now: float) -> Entry | None:
    """The live entry stored as ``data`` (``None``: absent, unreadable or expired)."""
    if data is None:
        return None
    try:
        entry = decode_entry(data if isinstance(data, bytes) else data.encode())
    except (ValueError, TypeError):
        return None
    return entry if entry.expires_at > now else None

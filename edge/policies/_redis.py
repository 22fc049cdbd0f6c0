"""Calling a Redis Lua script from the request path: one lean pipelined connection.

Rate limits and usage plans run one ``EVALSHA`` per request, so their cost per request
decides what ``mode: cluster`` costs the edge. redis-py's pipeline machinery costs tens of
microseconds per command; :class:`ScriptRunner` instead keeps one connection of its own (to the
server the edge's redis-py client points at) and speaks just the RESP it needs:

- calls made in one event-loop iteration are encoded into one buffer and written once;
  each call's future is queued and resolved in order as replies arrive (pipelining: every
  script still runs atomically, so accuracy is not traded);
- the script is loaded (``SCRIPT LOAD``) when the connection opens, ahead of any call;
- every batch has a deadline (one timer per batch). When Redis fails, refuses, or is late,
  every waiting call fails with :class:`RedisUnavailable`, the connection is dropped, and the
  runner reports Redis down for ``retry_s`` so that later calls fail at once (no connect
  attempt per request) until it tries again.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import time
from collections.abc import Sequence
from functools import partial
from typing import Any, Final, cast

import structlog
from mypy_extensions import mypyc_attr
from redis.asyncio import Redis

__all__ = ["RedisUnavailable", "ScriptRunner", "encode_command", "parse_reply"]

log = structlog.get_logger(__name__)

RETRY_S = 1.0
"""How long Redis is taken as down after a failure before it is tried again."""

Arg = str | int | float | bytes


class RedisUnavailable(Exception):
    """Redis could not answer in time (down, refused, timed out, or erred)."""


class ReplyError(Exception):
    """Redis answered a command with an error (``-ERR ...``)."""


def _bytes(arg: Arg) -> bytes:
    if isinstance(arg, bytes):
        return arg
    if isinstance(arg, float):
        return repr(arg).encode()
    return str(arg).encode()


def encode_command(*args: Arg) -> bytes:
    """One RESP command (an array of bulk strings)."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = _bytes(arg)
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


_INCOMPLETE: Final[Any] = object()


def parse_reply(buffer: bytes | bytearray, start: int) -> tuple[Any, int]:
    """One reply from ``buffer`` at ``start``: ``(value, end)``; ``_INCOMPLETE`` when the
    buffer does not hold all of it yet. Errors come back as :class:`ReplyError` values."""
    line_end = buffer.find(b"\r\n", start)
    if line_end < 0:
        return _INCOMPLETE, start
    kind, text = buffer[start : start + 1], bytes(buffer[start + 1 : line_end])
    after = line_end + 2
    if kind == b":":
        return int(text), after
    if kind == b"+":
        return text.decode(), after
    if kind == b"-":
        return ReplyError(text.decode(errors="replace")), after
    if kind == b"$":
        size = int(text)
        if size < 0:
            return None, after
        if len(buffer) < after + size + 2:
            return _INCOMPLETE, start
        return bytes(buffer[after : after + size]), after + size + 2
    if kind == b"*":
        count = int(text)
        items: list[Any] = []
        position = after
        for _ in range(max(count, 0)):
            item, position = parse_reply(buffer, position)
            if item is _INCOMPLETE:
                return _INCOMPLETE, start
            items.append(item)
        return (items if count >= 0 else None), position
    raise RedisUnavailable(f"unexpected reply type {kind!r}")


class _Connection(asyncio.Protocol):
    """One RESP connection: queued futures resolved by replies in order."""

    def __init__(self, on_lost: Any) -> None:
        self.transport: asyncio.Transport | None = None
        self.waiting: collections.deque[asyncio.Future[Any]] = collections.deque()
        self.buffer = bytearray()
        self.on_lost = on_lost

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        position = 0
        waiting = self.waiting
        stale_script = False
        try:
            while position < len(buffer):
                value, end = parse_reply(buffer, position)
                if value is _INCOMPLETE:
                    break
                position = end
                future = waiting.popleft() if waiting else None
                if future is None or future.done():
                    continue
                if isinstance(value, ReplyError):
                    stale_script = stale_script or str(value).startswith("NOSCRIPT")
                    future.set_exception(RedisUnavailable(str(value)))
                else:
                    future.set_result(value)
        except (RedisUnavailable, ValueError, IndexError) as exc:
            self.fail(RedisUnavailable(f"unreadable reply: {exc!r}"))
            return
        del buffer[:position]
        if stale_script:  # Redis lost the script (SCRIPT FLUSH): reconnect, which reloads it
            self.fail(RedisUnavailable("the script is no longer loaded"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.fail(RedisUnavailable(f"connection lost: {exc!r}" if exc else "connection closed"))
        self.on_lost(self)

    def fail(self, error: Exception) -> None:
        while self.waiting:
            future = self.waiting.popleft()
            if not future.done():
                future.set_exception(error)
        if self.transport is not None:
            self.transport.abort()


@mypyc_attr(native_class=False)  # shared through a WeakValueDictionary: needs weakrefs
class ScriptRunner:
    """One Lua script on the Redis of ``redis`` (see the module docstring)."""

    __slots__ = ("__weakref__", "_batch", "_connecting", "_connection", "_deadline",
                 "_down_until", "_pending", "address", "auth", "db", "retry_s", "script",
                 "sha")  # fmt: skip

    def __init__(self, redis: Redis, script: str, retry_s: float = RETRY_S) -> None:
        kwargs = redis.connection_pool.connection_kwargs
        self.address: tuple[str, int] | str = kwargs.get("path") or (
            str(kwargs.get("host", "127.0.0.1")), int(kwargs.get("port", 6379)))
        password, username = kwargs.get("password"), kwargs.get("username")
        self.auth: tuple[str, ...] = (
            (username, password) if username and password else (password,) if password else ()
        )
        self.db = int(kwargs.get("db") or 0)
        self.script = script
        self.sha = hashlib.sha1(script.encode()).hexdigest()
        self.retry_s = retry_s
        self._connection: _Connection | None = None
        self._connecting: asyncio.Task[None] | None = None
        self._pending: list[bytes] = []
        self._batch: list[asyncio.Future[Any]] = []
        self._deadline = 0.0
        self._down_until = 0.0

    def available(self) -> bool:
        """Whether Redis is worth trying (it did not fail in the last ``retry_s``)."""
        return time.monotonic() >= self._down_until

    def call(self, keys: Sequence[str], args: Sequence[Arg], timeout: float) -> asyncio.Future[Any]:
        """The script's reply for ``keys`` and ``args`` (a future; :class:`RedisUnavailable`
        when Redis fails or does not answer within ``timeout`` seconds)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        if not self._pending:
            self._deadline = timeout
            loop.call_soon(self._flush)
        elif timeout < self._deadline:
            self._deadline = timeout
        self._pending.append(encode_command("EVALSHA", self.sha, len(keys), *keys, *args))
        self._batch.append(future)
        return future

    def _flush(self) -> None:
        commands, futures = self._pending, self._batch
        self._pending, self._batch = [], []
        loop = asyncio.get_running_loop()
        loop.call_later(self._deadline, self._expire, futures)
        connection = self._connection
        if connection is not None and connection.transport is not None:
            connection.waiting.extend(futures)
            connection.transport.write(b"".join(commands))
            return
        if self._connecting is None:
            self._connecting = loop.create_task(self._connect())
        self._connecting.add_done_callback(partial(self._send_after_connect, commands, futures))

    def _send_after_connect(self, commands: list[bytes], futures: list[asyncio.Future[Any]],
                            _connected: object = None) -> None:  # fmt: skip
        connection = self._connection
        if connection is None or connection.transport is None:
            for future in futures:
                if not future.done():
                    future.set_exception(RedisUnavailable("cannot connect to Redis"))
            return
        connection.waiting.extend(futures)
        connection.transport.write(b"".join(commands))

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(max(self._deadline, 0.05) * 2):
                if isinstance(self.address, str):
                    _, protocol = await loop.create_unix_connection(
                        partial(_Connection, self._lost), self.address)
                else:
                    _, protocol = await loop.create_connection(
                        partial(_Connection, self._lost), *self.address)
                setup = [encode_command("AUTH", *self.auth)] if self.auth else []
                if self.db:
                    setup.append(encode_command("SELECT", self.db))
                setup.append(encode_command("SCRIPT", "LOAD", self.script))
                replies = [loop.create_future() for _ in setup]
                protocol.waiting.extend(replies)
                assert protocol.transport is not None
                protocol.transport.write(b"".join(setup))
                try:
                    for reply in replies:
                        await reply
                except RedisUnavailable:
                    protocol.fail(RedisUnavailable("set-up refused"))
                    raise
            self._connection = protocol
        except (OSError, TimeoutError, RedisUnavailable, AssertionError) as exc:
            self._down(exc)
        finally:
            self._connecting = None

    def close(self) -> None:
        """Drop the connection (calls still waiting fail)."""
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.fail(RedisUnavailable("closed"))

    def _lost(self, connection: _Connection) -> None:
        if self._connection is connection:
            self._connection = None

    def _expire(self, futures: list[asyncio.Future[Any]]) -> None:
        if all(future.done() for future in futures):
            return
        self._down(TimeoutError("no reply within the deadline"))
        error = RedisUnavailable("Redis did not answer in time")
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.fail(error)  # replies would be out of step: drop the connection
        for future in futures:
            if not future.done():
                future.set_exception(error)

    def _down(self, exc: BaseException) -> None:
        self._down_until = time.monotonic() + self.retry_s
        log.warning("redis unavailable", error=repr(exc), retry_s=self.retry_s)

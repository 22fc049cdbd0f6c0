"""The edge's access log: one JSON line per request, written lean and off the event loop.

This sits on the request path, so it does not go through structlog's processor chain (which
stays for application logs): :meth:`AccessLog.log` builds the line from an f-string, escaping
only the one field a client controls (the path), and appends it to a buffer. The buffer is
handed to a writer thread at most every ``flush_interval`` (50 ms) or as soon as it holds
``buffer_bytes``; the thread does the blocking ``write``/``flush`` on the stream (stdout by
default), so a slow stdout reader never stalls the loop. If the writer falls more than
``max_backlog_bytes`` behind, whole batches are dropped and counted (``dropped``) rather than
letting memory grow. With ``atomic_lines`` (several worker processes sharing one stdout) each
``write`` holds whole lines and at most ``PIPE_BUF`` (4096) bytes, so lines from different
processes never interleave on a pipe. ``bench/accesslog_cost.py`` measures a line against a
structlog call.

A line (keys always in this order; ``route``, ``upstream_ms`` and ``version`` are ``null`` when
there was none; ``plugin_failures`` and ``context`` only appear when plugins failed open or set
context values, ``consumer`` when a policy authenticated the caller, ``error`` when the edge
failed the request)::

    {"ts":"2026-01-02T03:04:05.678Z","request_id":"...","client_ip":"127.0.0.1",
     "method":"GET","path":"/users/7","route":"users","status":200,"bytes":512,
     "latency_ms":1.204,"upstream_ms":0.981,"version":12,"trace_id":"4bf9...",
     "node":"edge-1","stage":"prod","region":"eu-west"}
"""

from __future__ import annotations

import asyncio
import io
import json
import queue
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from json.encoder import encode_basestring
from typing import IO, Any, Final

import structlog

from edgeway.edge.memo import Memo, SharedMemo

__all__ = ["AccessLog"]

log = structlog.get_logger(__name__)

_escape: Final[Any] = encode_basestring
_DIGITS3: Final = tuple(f"{n:03d}" for n in range(1000))


def _millis(value: float) -> str:
    """Milliseconds with three decimals (microseconds, truncated): ``12.345``."""
    micros = int(value * 1000)
    return str(micros // 1000) + "." + _DIGITS3[micros % 1000]
_Batch = str | Future[None] | None


_CONSUMERS: Final[Memo[str, str]] = Memo(4096)
"""The ``consumer`` field by consumer name (escaped once, not for each of its requests)."""
_CONTEXTS: Final[Memo[tuple[tuple[str, str], ...], str]] = Memo(1024)
"""Rendered ``context`` fields by their pairs: a plugin's cached verdict sets the same values
request after request."""


def _plugins(failures: Sequence[str] | None, context: Mapping[str, str] | None) -> str:
    text = ',"plugin_failures":[' + ",".join([_escape(f) for f in failures]) + "]" \
        if failures else ""
    if context:
        text += _SHARED.of_mapping(context)
    return text


def _context_field(context: Mapping[str, str]) -> str:
    items = tuple(context.items())
    rendered = _CONTEXTS.get(items)
    if rendered is None:
        pairs = ",".join([_escape(key) + ":" + _escape(value) for key, value in items])
        rendered = _CONTEXTS.put(items, ',"context":{' + pairs + "}")  # see log()
    return rendered


_SHARED: Final[SharedMemo[str]] = SharedMemo(1024, _context_field)
"""The same by the immutable mapping they come from (a cached verdict's, taken as it is)."""


class AccessLog:
    """A buffered JSON-lines access log; see the module docstring."""

    def __init__(
        self,
        stream: IO[str] | IO[bytes] | None = None,
        *,
        flush_interval: float = 0.05,
        buffer_bytes: int = 64 * 1024,
        max_backlog_bytes: int = 16 * 1024 * 1024,
        atomic_lines: bool = False,
    ) -> None:
        self._stream = stream
        self._flush_interval = flush_interval
        self._buffer_bytes = buffer_bytes
        self._max_backlog = max_backlog_bytes
        self._atomic = atomic_lines
        self._lines: list[str] = []
        self._size = 0
        self._static = "}\n"
        self._timer: asyncio.TimerHandle | None = None
        self._queue: queue.SimpleQueue[_Batch] = queue.SimpleQueue()
        self._writer_thread: threading.Thread | None = None
        self._backlog = 0
        self._second = -1
        self._stamp = ""
        self.dropped = 0
        """Lines dropped because the stream did not keep up."""

    def bind(self, **fields: str) -> None:
        """Fields written at the end of every line (``node``, ``stage``, ``region``)."""
        static = "".join(f",{json.dumps(k)}:{json.dumps(v)}" for k, v in fields.items())
        self._static = static + "}\n"

    def log(
        self,
        request_id: str,
        client_ip: str,
        method: str,
        path: str,
        route: str | None,
        status: int,
        bytes_sent: int,
        latency_ms: float,
        upstream_ms: float | None,
        version: int | None,
        trace_id: str,
        error: str = "",
        consumer: str = "",
        plugin_failures: Sequence[str] | None = None,
        context: Mapping[str, str] | None = None,
    ) -> None:
        """Add one request's line. ``request_id``, ``client_ip``, ``method``, ``route`` and
        ``trace_id`` must be JSON-safe as they are (the proxy only passes ids it checked or
        made); ``path``, ``consumer`` and ``error`` are escaped. ``plugin_failures`` (plugins
        that failed open) and ``context`` (values plugins set) are written when present."""
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second = second
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        route_json = "null" if route is None else '"' + route + '"'
        upstream = "null" if upstream_ms is None else _millis(upstream_ms)
        failure = ',"error":' + _escape(error) if error else ""
        if consumer:
            field = _CONSUMERS.get(consumer)
            if field is None:
                field = _CONSUMERS.put(consumer, ',"consumer":' + _escape(consumer))
            failure = field + failure
        if plugin_failures or context:
            failure = _plugins(plugin_failures, context) + failure
        # plain {} fields only: compiled, this is a concatenation (a format spec would make it
        # a str.format call of the whole template, about 3 µs)
        line = (
            f'{{"ts":"{self._stamp}.{_DIGITS3[int((now - second) * 1000)]}Z"'
            f',"request_id":"{request_id}","client_ip":"{client_ip}","method":"{method}"'
            f',"path":{_escape(path)},"route":{route_json},"status":{status}'
            f',"bytes":{bytes_sent},"latency_ms":{_millis(latency_ms)},"upstream_ms":{upstream}'
            f',"version":{"null" if version is None else version},"trace_id":"{trace_id}"'
            f"{failure}{self._static}"
        )
        self._lines.append(line)
        self._size += len(line)
        if self._size >= self._buffer_bytes:
            self._hand_off()
        elif self._timer is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return  # no loop: handed off when the buffer fills or on flush
            self._timer = loop.call_later(self._flush_interval, self._hand_off)

    def _hand_off(self) -> None:
        """Give the buffered lines to the writer thread."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._lines:
            return
        batch = "".join(self._lines)
        count = len(self._lines)
        self._lines.clear()
        self._size = 0
        if self._backlog > self._max_backlog:
            if not self.dropped:
                log.warning("access log stream is not keeping up; dropping lines")
            self.dropped += count
            return
        self._backlog += len(batch)
        self._writer().put(batch)

    def _writer(self) -> queue.SimpleQueue[_Batch]:
        if self._writer_thread is None or not self._writer_thread.is_alive():
            self._writer_thread = threading.Thread(target=self._run, name="edgeway-access-log",
                                            daemon=True)
            self._writer_thread.start()
        return self._queue

    def _run(self) -> None:
        stream: IO[Any] = self._stream if self._stream is not None else sys.stdout
        binary = "b" in getattr(stream, "mode", "") or isinstance(
            stream, io.BufferedIOBase | io.RawIOBase
        )
        while True:
            item = self._queue.get()
            if item is None:
                return
            if isinstance(item, Future):
                item.set_result(None)
                continue
            try:
                for piece in _pieces(item) if self._atomic else (item,):
                    stream.write(piece.encode() if binary else piece)
                    stream.flush()
            except Exception as exc:  # a closed stdout must not kill the edge
                log.warning("access log write failed", error=repr(exc))
            self._backlog -= len(item)

    def flush_nowait(self) -> Future[None]:
        """Hand off what is buffered; the future resolves once it is written."""
        self._hand_off()
        done: Future[None] = Future()
        self._writer().put(done)
        return done

    async def flush(self) -> None:
        """Write out everything logged so far (waits for the writer thread)."""
        await asyncio.wrap_future(self.flush_nowait())

    async def close(self) -> None:
        """Flush and stop the writer thread."""
        await self.flush()
        if self._writer_thread is not None:
            self._queue.put(None)
            await asyncio.to_thread(self._writer_thread.join, 5.0)
            self._writer_thread = None


PIPE_BUF: Final = 4096


def _pieces(batch: str) -> list[str]:
    """``batch`` cut at line ends into pieces of at most ``PIPE_BUF`` bytes (a longer line is
    a piece of its own)."""
    if len(batch) <= PIPE_BUF // 4 or len(batch.encode()) <= PIPE_BUF:
        return [batch]
    pieces: list[str] = []
    current: list[str] = []
    size = 0
    for line in batch.splitlines(keepends=True):
        length = len(line.encode())
        if current and size + length > PIPE_BUF:
            pieces.append("".join(current))
            current, size = [], 0
        current.append(line)
        size += length
    if current:
        pieces.append("".join(current))
    return pieces

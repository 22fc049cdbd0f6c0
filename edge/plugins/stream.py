"""The Exchange stream to one plugin replica, spoken over HTTP/2 directly on the event loop.

gRPC is HTTP/2: the Exchange call is one ``POST /edgeway.v1.Plugin/Exchange`` stream whose DATA
frames carry length-prefixed ``PluginCalls`` one way and ``PluginReplies`` the other, ended by
trailers holding ``grpc-status``. grpc.aio moves every message between its poller threads and
the event loop, which cost about 70 µs of CPU per message and direction on the benchmark
machine; here a message is one socket write, or one parse in ``data_received``. Unary calls
(Describe, ValidateConfig, OnLog, and plugins without Exchange) stay on grpc.aio.

Only what one client stream needs of RFC 9113 is here: the preface and SETTINGS (acknowledged
both ways), flow control both ways (a large receive window, replenished; the peer's windows
respected, the surplus held until WINDOW_UPDATE), PING answered, GOAWAY (the calls sent are
still answered, new ones go to a new connection) and RST_STREAM, header
blocks through ``hpack`` (CONTINUATION included), trailers and Trailers-Only answers. One
connection carries one Exchange stream; when either ends, pending calls fail and the next call
opens a new connection (:class:`ReplicaStreams`, with a reconnect backoff).

Batching: a call made while no other call is in flight goes out in the loop turn it was made
in, so an idle edge adds no wait. Calls made while others are in flight are held until the
next reply arrives (at most ``HOLD``) and then travel together in one message, as Nagle's
algorithm does for TCP segments: under load a message carries many calls and both sides pay
the per-message cost once for all of them. The caller awaits a future resolved by the reply
with its call id. Deadlines are swept by one
timer per stream, not one per call, so a call may time out up to ``DEADLINE_SLACK`` late; the
plugin is given its budget plus twice that (``timeout_ms``), so a slow call ends by the edge's
deadline, not by the plugin's own answer.
"""

from __future__ import annotations

import asyncio
import heapq
import socket
from collections import deque
from collections.abc import Mapping
from typing import Any, Final, cast
from urllib.parse import unquote

import grpc
import hpack
import structlog

from edgeway.common.plugins.transport import CallFailed, status_failure
from edgeway.edge.plugins.wire import (
    EMPTY_PROCEED,
    ERROR_REPLY,
    REQUEST_REPLY,
    RESPONSE_REPLY,
    ReplyPart,
    plugin_call,
    read_replies,
    varint,
)
from edgeway.v1 import plugin_pb2

__all__ = [
    "DEADLINE_SLACK",
    "ExchangeStream",
    "ReplicaStreams",
    "StreamCalls",
    "encode_request_call",
    "encode_response_call",
]

log = structlog.get_logger(__name__)

PREFACE: Final = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA: Final = 0
HEADERS: Final = 1
RST_STREAM: Final = 3
SETTINGS: Final = 4
PING: Final = 6
GOAWAY: Final = 7
WINDOW_UPDATE: Final = 8
CONTINUATION: Final = 9
END_STREAM: Final = 0x1
ACK: Final = 0x1
END_HEADERS: Final = 0x4
PADDED: Final = 0x8
PRIORITY_FLAG: Final = 0x20
STREAM: Final = 1
"""The Exchange stream's id: the first and only stream a connection opens."""
_DATA_ON_STREAM: Final = b"\x00\x00\x00\x00\x00\x01\x00"
"""What follows a DATA frame's length on the Exchange stream: its type, no flags, the
stream id; then the gRPC message prefix's first byte (not compressed)."""

WINDOW: Final = 1 << 30
"""Receive window we announce for the connection and the stream (replenished at half)."""
MAX_FRAME: Final = 1 << 20
"""Largest frame we accept (SETTINGS_MAX_FRAME_SIZE)."""
MAX_MESSAGE: Final = 64 * 1024 * 1024
"""Largest reply message accepted, as the grpc.aio channel's max_receive_message_length."""
MAX_UNSENT: Final = 16 * 1024 * 1024
"""Bytes of calls held back by the peer's flow control before new calls are refused."""
IN_FLIGHT: Final = 4
"""Messages in flight before further calls are held for the next reply."""
HOLD: Final = 0.001
"""Seconds calls may wait for the next reply before they are sent anyway (see the module
docstring); with nothing in flight a call goes out in the loop turn it was made in."""
DEADLINE_SLACK: Final = 0.005
"""Seconds the deadline timer may fire late, so it is not re-armed for every call."""
CONNECT_TIMEOUT: Final = 5.0
"""Seconds a connection attempt may take (the calls waiting for it end at their deadlines)."""
BACKOFF_MIN: Final = 0.1
BACKOFF_MAX: Final = 1.0
"""Reconnect backoff (seconds) after a connection attempt failed, as the grpc.aio channel's."""
_NO_ERROR: Final = 0
_HTTP_TO_GRPC: Final = {400: grpc.StatusCode.INTERNAL, 401: grpc.StatusCode.UNAUTHENTICATED,
                        403: grpc.StatusCode.PERMISSION_DENIED, 404: grpc.StatusCode.UNIMPLEMENTED,
                        429: grpc.StatusCode.UNAVAILABLE, 502: grpc.StatusCode.UNAVAILABLE,
                        503: grpc.StatusCode.UNAVAILABLE, 504: grpc.StatusCode.UNAVAILABLE}
_CODES: Final = {code.value[0]: code for code in grpc.StatusCode}


def encode_request_call(call_id: int, request: bytes, config: bytes, timeout_ms: int,
                        trace: Mapping[str, str]) -> bytes:
    """``PluginCall{request: RequestCall{call_id, request, config}, timeout_ms, trace_context}``
    from the serialized ``HttpRequest`` and ``Struct``, ready to join a ``PluginCalls``."""
    call = varint(call_id)
    request_size = varint(len(request))
    inner = [b"\x08", call, b"\x12", request_size, request]
    size = 1 + len(call) + 1 + len(request_size) + len(request)
    if config:
        config_size = varint(len(config))
        inner += (b"\x1a", config_size, config)
        size += 1 + len(config_size) + len(config)
    return plugin_call(b"\x0a", inner, size, timeout_ms, trace)


def encode_response_call(call_id: int, call: plugin_pb2.ResponseCall, timeout_ms: int,
                         trace: Mapping[str, str]) -> bytes:
    """``PluginCall{response: call, timeout_ms, trace_context}`` with ``call_id`` set."""
    call.call_id = call_id
    encoded = call.SerializeToString()
    return plugin_call(b"\x12", [encoded], len(encoded), timeout_ms, trace)


def _frame(kind: int, flags: int, stream: int, payload: bytes) -> bytes:
    return (len(payload).to_bytes(3, "big") + bytes((kind, flags))
            + stream.to_bytes(4, "big") + payload)


def _settings(*pairs: tuple[int, int]) -> bytes:
    payload = b"".join(key.to_bytes(2, "big") + value.to_bytes(4, "big") for key, value in pairs)
    return _frame(SETTINGS, 0, 0, payload)


def _window_update(stream: int, increment: int) -> bytes:
    return _frame(WINDOW_UPDATE, 0, stream, increment.to_bytes(4, "big"))


def _failure_of(headers: list[tuple[str, str]]) -> CallFailed | None:
    """The failure a header block ending the stream reports (``None``: ``grpc-status`` 0)."""
    found = dict(headers)
    status = found.get("grpc-status")
    if status is None:
        http = found.get(":status", "")
        code = _HTTP_TO_GRPC.get(int(http) if http.isdigit() else 0, grpc.StatusCode.UNKNOWN)
        return CallFailed(f"{code.name.lower()}: HTTP status {http or 'missing'}", code)
    code = _CODES.get(int(status) if status.isdigit() else -1, grpc.StatusCode.UNKNOWN)
    if code is grpc.StatusCode.OK:
        return None
    return status_failure(code, unquote(found.get("grpc-message", "")))


class ExchangeStream(asyncio.Protocol):
    """One HTTP/2 connection carrying one Exchange stream; see the module docstring.

    Open with :meth:`connect` (calls sent before the connection is up wait in the outbox).
    ``broken`` is set once the stream can take no more calls; pending calls then fail with it.
    """

    def __init__(self, authority: str) -> None:
        self.authority = authority
        self.transport: asyncio.Transport | None = None
        self.broken: CallFailed | None = None
        self.draining: CallFailed | None = None
        """Set by the plugin's GOAWAY: the calls sent are answered, new ones go to a new
        connection (:class:`ReplicaStreams`); the connection closes when the last is done."""
        self.connected = False
        self.replied = False
        """Whether any reply arrived (a stream refused at once is not worth retrying)."""
        self.loop = asyncio.get_running_loop()
        self._next_id = 0
        self._pending: dict[int, asyncio.Future[ReplyPart]] = {}
        self._deadlines: deque[tuple[float, int]] = deque()
        """Calls' deadlines in the order they were sent: in time order, as every call of an
        endpoint gets the same budget; an earlier one (a retry's shorter budget) goes to
        ``_early``. Answered calls leave them lazily (when the timer sweeps)."""
        self._early: list[tuple[float, int]] = []
        """A heap of the deadlines that came out of order."""
        self._timer: asyncio.TimerHandle | None = None
        self._outbox: list[bytes] = []
        self._flush_scheduled = False
        self._hold: asyncio.TimerHandle | None = None
        self._outbox_ids: list[int] = []
        self._sequence = 0
        self._message_of: dict[int, int] = {}
        """The message each call in flight went out in."""
        self._unanswered: dict[int, int] = {}
        """Messages in flight: their calls not answered yet (by count)."""
        self._unsent = bytearray()
        """Message bytes the peer's flow control holds back."""
        self._send_window = 65_535
        self._stream_window = 65_535
        self._peer_initial_window = 65_535
        self._peer_max_frame = 16_384
        self._received = 0
        """DATA bytes received since the last WINDOW_UPDATE we sent."""
        self._buffer = bytearray()
        self._message = bytearray()
        self._block = bytearray()
        self._block_ends_stream = False
        self._decoder = hpack.Decoder()
        self._encoder = hpack.Encoder()
        self._headers_seen = False

    # -- opening --------------------------------------------------------------------------
    async def connect(self, host: str, port: int) -> None:
        """Open the connection; a failure breaks the stream (its calls fail ``unavailable``)."""
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT):
                await self.loop.create_connection(lambda: self, host, port)
        except (OSError, TimeoutError) as exc:
            reason = "timed out" if isinstance(exc, TimeoutError) \
                else exc.strerror or type(exc).__name__
            self._fail(CallFailed(f"unavailable: cannot connect to {self.authority} ({reason})",
                                  grpc.StatusCode.UNAVAILABLE))

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport = cast(asyncio.Transport, transport)
        if self.broken is not None:  # closed while connecting
            transport.close()
            return
        self.connected = True
        sock = transport.get_extra_info("socket")
        if sock is not None:  # a dead peer is noticed even while no call is in flight
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 20)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 5)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 3)
        headers = self._encoder.encode([
            (":method", "POST"), (":scheme", "http"), (":path", "/edgeway.v1.Plugin/Exchange"),
            (":authority", self.authority), ("content-type", "application/grpc"),
            ("te", "trailers"), ("user-agent", "edgeway-edge"),
        ])
        transport.write(PREFACE + _settings((2, 0), (4, WINDOW), (5, MAX_FRAME))
                        + _window_update(0, WINDOW - 65_535)
                        + _frame(HEADERS, END_HEADERS, STREAM, headers))
        self._flush()

    # -- calls ----------------------------------------------------------------------------
    def next_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def send(self, call_id: int, call: bytes,
             budget: float) -> asyncio.Future[ReplyPart]:
        """Queue ``call`` (from :func:`encode_request_call`) with id ``call_id``; the future
        gets its reply, or :class:`CallFailed` (deadline, broken stream)."""
        broken = self.broken or self.draining
        if broken is not None:
            raise broken
        if len(self._unsent) > MAX_UNSENT:
            raise CallFailed("resource_exhausted: the plugin is not reading its stream",
                             grpc.StatusCode.RESOURCE_EXHAUSTED)
        future: asyncio.Future[ReplyPart] = self.loop.create_future()
        self._pending[call_id] = future
        deadline = self.loop.time() + budget
        queue = self._deadlines
        if not queue or queue[-1][0] <= deadline:
            queue.append((deadline, call_id))
        else:
            heapq.heappush(self._early, (deadline, call_id))
        timer = self._timer
        if timer is None or deadline + DEADLINE_SLACK < timer.when():
            if timer is not None:
                timer.cancel()
            self._timer = self.loop.call_at(deadline + DEADLINE_SLACK, self._expire)
        outbox = self._outbox
        outbox.append(call)
        self._outbox_ids.append(call_id)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            if len(self._unanswered) < IN_FLIGHT:  # send in this loop turn
                self.loop.call_soon(self._flush)
            else:  # sent with the next reply, or after HOLD at the latest
                self._hold = self.loop.call_later(HOLD, self._flush)
        return future

    def forget(self, call_id: int) -> None:
        """The caller stopped waiting for ``call_id`` (cancelled)."""
        if self._pending.pop(call_id, None) is not None:
            self._settled(call_id)
            self._drained()

    def _drained(self) -> None:
        """After a GOAWAY: close once no call waits any more."""
        if self.draining is not None and not self._pending and self.broken is None:
            self._fail(self.draining)

    def _settled(self, call_id: int) -> None:
        """``call_id`` left ``_pending``: count it off the message it went out in."""
        sequence = self._message_of.pop(call_id, 0)
        if sequence:
            left = self._unanswered[sequence] - 1
            if left:
                self._unanswered[sequence] = left
            else:
                del self._unanswered[sequence]

    def _flush(self) -> None:
        """Send the queued calls as one message."""
        self._flush_scheduled = False
        hold = self._hold
        if hold is not None:
            hold.cancel()
            self._hold = None
        if not self._outbox or self.transport is None or self.broken is not None:
            return
        body = b"".join(self._outbox)
        self._outbox.clear()
        self._sequence += 1
        message_of, sequence = self._message_of, self._sequence
        for call_id in self._outbox_ids:
            message_of[call_id] = sequence
        self._unanswered[sequence] = len(self._outbox_ids)
        self._outbox_ids.clear()
        size = 5 + len(body)  # gRPC's prefix: not compressed, the length
        transport = self.transport
        if not self._unsent and size <= min(self._send_window, self._stream_window,
                                             self._peer_max_frame):
            self._send_window -= size  # the usual case: one DATA frame, written at once
            self._stream_window -= size
            transport.write(b"".join((size.to_bytes(3, "big"), _DATA_ON_STREAM,
                                      len(body).to_bytes(4, "big"), body)))
            return
        self._unsent += b"\x00" + len(body).to_bytes(4, "big") + body
        self._send_data()

    def _send_data(self) -> None:
        transport = self.transport
        unsent = self._unsent
        if transport is None or not unsent:
            return
        frames: list[bytes] = []
        while unsent:
            size = min(len(unsent), self._send_window, self._stream_window, self._peer_max_frame)
            if size <= 0:
                break
            frames.append(_frame(DATA, 0, STREAM, bytes(unsent[:size])))
            del unsent[:size]
            self._send_window -= size
            self._stream_window -= size
        if frames:
            transport.write(b"".join(frames))

    def _expire(self) -> None:
        """Fail the calls whose deadline passed; re-arm for the next one."""
        self._timer = None
        now = self.loop.time()
        queue, early, pending = self._deadlines, self._early, self._pending
        expired: list[int] = []
        while queue and (queue[0][0] <= now or queue[0][1] not in pending):
            deadline, call_id = queue.popleft()
            if deadline <= now:
                expired.append(call_id)
        while early and (early[0][0] <= now or early[0][1] not in pending):
            deadline, call_id = heapq.heappop(early)
            if deadline <= now:
                expired.append(call_id)
        for call_id in expired:
            future = pending.pop(call_id, None)
            if future is None:
                continue  # answered already
            self._settled(call_id)
            if not future.done():
                future.set_exception(CallFailed("deadline exceeded",
                                                grpc.StatusCode.DEADLINE_EXCEEDED))
        if queue or early:
            first = min([left[0][0] for left in (queue, early) if left])
            self._timer = self.loop.call_at(max(first, now) + DEADLINE_SLACK, self._expire)
        self._drained()

    # -- frames from the peer -------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        offset = 0
        end = len(buffer)
        try:
            while end - offset >= 9:
                length = int.from_bytes(buffer[offset:offset + 3], "big")
                if length > MAX_FRAME:
                    raise CallFailed(f"internal: frame of {length} bytes from the plugin")
                if end - offset - 9 < length:
                    break
                kind = buffer[offset + 3]
                flags = buffer[offset + 4]
                stream = int.from_bytes(buffer[offset + 5:offset + 9], "big") & 0x7FFFFFFF
                payload = bytes(buffer[offset + 9:offset + 9 + length])
                offset += 9 + length
                self._on_frame(kind, flags, stream, payload)
                if self.broken is not None:
                    return
        except CallFailed as failure:
            self._fail(failure)
            return
        except Exception as exc:  # hpack or protobuf: a peer we cannot understand
            self._fail(CallFailed(f"internal: bad reply stream ({type(exc).__name__}: {exc})"))
            return
        del buffer[:offset]

    def _on_frame(self, kind: int, flags: int, stream: int, payload: bytes) -> None:
        if kind == DATA:
            self._on_data(flags, stream, payload)
        elif kind in (HEADERS, CONTINUATION):
            self._on_headers(kind, flags, stream, payload)
        elif kind == SETTINGS:
            if not flags & ACK:
                self._on_settings(payload)
        elif kind == PING:
            if not flags & ACK and self.transport is not None:
                self.transport.write(_frame(PING, ACK, 0, payload))
        elif kind == WINDOW_UPDATE:
            increment = int.from_bytes(payload[:4], "big") & 0x7FFFFFFF
            if stream == 0:
                self._send_window += increment
            elif stream == STREAM:
                self._stream_window += increment
            self._send_data()
        elif kind == RST_STREAM and stream == STREAM:
            code = int.from_bytes(payload[:4], "big")
            raise CallFailed(f"unavailable: the plugin reset the stream (HTTP/2 error {code})",
                             grpc.StatusCode.UNAVAILABLE)
        elif kind == GOAWAY:
            last = int.from_bytes(payload[:4], "big") & 0x7FFFFFFF
            code = int.from_bytes(payload[4:8], "big")
            reason = payload[8:].decode(errors="replace")[:200]
            failure = CallFailed(f"unavailable: the plugin closed the connection (GOAWAY {code}"
                                 f"{': ' + reason if reason else ''})",
                                 grpc.StatusCode.UNAVAILABLE)
            if last < STREAM or code != _NO_ERROR:
                raise failure  # our stream will not be served
            self.draining = failure
            self._drained()
        # PRIORITY, PUSH_PROMISE (disabled by our SETTINGS) and unknown frames: ignored

    def _on_settings(self, payload: bytes) -> None:
        for at in range(0, len(payload) - 5, 6):
            key = int.from_bytes(payload[at:at + 2], "big")
            value = int.from_bytes(payload[at + 2:at + 6], "big")
            if key == 1:
                self._encoder.header_table_size = value
            elif key == 4 and value <= 0x7FFFFFFF:
                self._stream_window += value - self._peer_initial_window
                self._peer_initial_window = value
            elif key == 5 and 16_384 <= value <= 0xFFFFFF:  # RFC 9113's bounds
                self._peer_max_frame = value
        if self.transport is not None:
            self.transport.write(_frame(SETTINGS, ACK, 0, b""))
        self._send_data()

    def _on_data(self, flags: int, stream: int, payload: bytes) -> None:
        self._received += len(payload)
        if self._received >= WINDOW // 2 and self.transport is not None:
            self.transport.write(_window_update(0, self._received)
                                 + _window_update(STREAM, self._received))
            self._received = 0
        if stream != STREAM:
            return
        if flags & PADDED:
            payload = payload[1:len(payload) - payload[0]]
        message = self._message
        message += payload
        while len(message) >= 5:
            size = int.from_bytes(message[1:5], "big")
            if size > MAX_MESSAGE:
                raise CallFailed(f"resource_exhausted: reply of {size} bytes from the plugin",
                                 grpc.StatusCode.RESOURCE_EXHAUSTED)
            if message[0]:
                raise CallFailed("internal: compressed reply (no compression was offered)")
            if len(message) < 5 + size:
                break
            self._on_replies(read_replies(bytes(message[5:5 + size])))
            del message[:5 + size]
        if flags & END_STREAM:
            raise CallFailed("unavailable: stream ended by the plugin without a status",
                             grpc.StatusCode.UNAVAILABLE)

    def _on_replies(self, replies: list[ReplyPart]) -> None:
        self.replied = True
        pending = self._pending
        for reply in replies:
            call_id = reply.call_id
            future = pending.pop(call_id, None)
            if future is not None:
                self._settled(call_id)
                if not future.done():
                    future.set_result(reply)
        if self._outbox:
            self._flush()
        self._drained()

    def _on_headers(self, kind: int, flags: int, stream: int, payload: bytes) -> None:
        if kind == HEADERS:
            if flags & PADDED:
                payload = payload[1:len(payload) - payload[0]]
            if flags & PRIORITY_FLAG:
                payload = payload[5:]
            self._block_ends_stream = bool(flags & END_STREAM)
            self._block.clear()
        self._block += payload
        if not flags & END_HEADERS:
            return
        # decoded always: the decoder's table must stay in step with the peer's encoder
        decoded: Any = self._decoder.decode(bytes(self._block))  # str pairs, typed as bytes
        headers = [(str(pair[0]), str(pair[1])) for pair in decoded]
        if stream != STREAM:
            return
        first = not self._headers_seen
        self._headers_seen = True
        if self._block_ends_stream:  # trailers, or a Trailers-Only answer
            failure = _failure_of(headers)
            raise failure if failure is not None else CallFailed(
                "unavailable: stream ended by the plugin", grpc.StatusCode.UNAVAILABLE)
        if first and dict(headers).get(":status") != "200":
            failure = _failure_of(headers)
            if failure is not None:
                raise failure

    # -- ending ---------------------------------------------------------------------------
    def _fail(self, failure: CallFailed) -> None:
        if self.broken is None:
            self.broken = failure
            if self.connected:
                log.info("plugin stream ended", endpoint=self.authority, reason=failure.reason)
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(failure)
        for timer in (self._timer, self._hold):
            if timer is not None:
                timer.cancel()
        self._timer = self._hold = None
        self._outbox.clear()
        self._outbox_ids.clear()
        self._message_of.clear()
        self._unanswered.clear()
        self._unsent.clear()
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(CallFailed("unavailable: connection to the plugin lost",
                              grpc.StatusCode.UNAVAILABLE))

    def close(self) -> None:
        """Say GOAWAY and close; pending calls fail with ``stream closed``."""
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(_frame(GOAWAY, 0, 0, (0).to_bytes(4, "big")
                                        + _NO_ERROR.to_bytes(4, "big")))
        self._fail(CallFailed("stream closed"))


class ReplicaStreams:
    """The Exchange stream of one replica (``host``, ``port``), reopened when it breaks.

    A stream that breaks before its first reply (the replica is down or refuses) is reopened
    only after a backoff from 0.1 s doubling to 1 s; calls meanwhile fail at once with its
    failure, as calls on a grpc.aio channel in TRANSIENT_FAILURE do."""

    def __init__(self, host: str, port: int, authority: str) -> None:
        self.host = host
        self.port = port
        self.authority = authority
        self.stream: ExchangeStream | None = None
        self._backoff = BACKOFF_MIN
        self._retry_at = 0.0
        self._opening: set[asyncio.Task[None]] = set()
        self._draining: set[ExchangeStream] = set()

    def current(self) -> ExchangeStream:
        """The open stream (opening one when needed); raises the last failure during the
        backoff."""
        stream = self.stream
        if stream is not None and stream.broken is None and stream.draining is None:
            return stream
        loop = asyncio.get_running_loop()
        if stream is not None and stream.broken is not None and stream.draining is None:
            if stream.replied:
                self._backoff = BACKOFF_MIN
            elif self._retry_at == 0.0 or loop.time() >= self._retry_at:
                self._retry_at = loop.time() + self._backoff
                self._backoff = min(BACKOFF_MAX, self._backoff * 2)
            else:
                raise stream.broken
        if stream is not None and stream.draining is not None and stream.broken is None:
            self._draining.add(stream)  # closed by close() if its calls are still out
        self._draining = {s for s in self._draining if s.broken is None}
        fresh = ExchangeStream(self.authority)
        task = loop.create_task(fresh.connect(self.host, self.port))
        self._opening.add(task)
        task.add_done_callback(self._opening.discard)
        self.stream = fresh
        return fresh

    async def close(self) -> None:
        for task in list(self._opening):
            task.cancel()
        await asyncio.gather(*self._opening, return_exceptions=True)
        for stream in (*self._draining, self.stream):
            if stream is not None:
                stream.close()


class StreamCalls:
    """``OnRequest``/``OnResponse`` calls to the replicas of one plugin endpoint over their
    Exchange streams, round robin; a call that finds its replica unavailable tries the next one
    within its budget. ``CallFailed`` with ``UNIMPLEMENTED``: the plugin has no Exchange."""

    def __init__(self, endpoints: list[tuple[str, int]], authorities: list[str]) -> None:
        self.replicas = [ReplicaStreams(host, port, authority)
                         for (host, port), authority in zip(endpoints, authorities, strict=True)]
        self._turn = 0

    async def request(self, request: bytes, config: bytes, budget: float,
                      trace: Mapping[str, str]) -> plugin_pb2.RequestVerdict | None:
        """The verdict of ``OnRequest`` for a serialized ``HttpRequest`` and ``Struct``;
        ``None`` for the usual one: proceed, changing nothing (known from its bytes)."""
        reply = await self._call(request, config, None, budget, trace)
        if reply.kind != REQUEST_REPLY:
            raise CallFailed("unexpected reply on the stream")
        if reply.rest == EMPTY_PROCEED:
            return None
        return plugin_pb2.RequestVerdict.FromString(reply.body)

    async def response(self, call: plugin_pb2.ResponseCall, budget: float,
                       trace: Mapping[str, str]) -> plugin_pb2.ResponseVerdict:
        reply = await self._call(b"", b"", call, budget, trace)
        if reply.kind != RESPONSE_REPLY:
            raise CallFailed("unexpected reply on the stream")
        return plugin_pb2.ResponseVerdict.FromString(reply.body)

    async def _call(self, request: bytes, config: bytes,
                    response: plugin_pb2.ResponseCall | None,
                    budget: float, trace: Mapping[str, str]) -> ReplyPart:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + budget
        replicas = self.replicas
        for attempt in range(len(replicas)):
            self._turn = (self._turn + 1) % len(replicas)
            timeout_ms = int((budget + 2 * DEADLINE_SLACK) * 1000)  # the edge's timer decides
            try:
                stream = replicas[self._turn].current()
                call_id = stream.next_id()
                call = encode_request_call(call_id, request, config, timeout_ms, trace) \
                    if response is None else encode_response_call(call_id, response, timeout_ms,
                                                                   trace)
                future = stream.send(call_id, call, budget)
                try:
                    reply = await future
                finally:
                    stream.forget(call_id)
            except CallFailed as failure:
                budget = deadline - loop.time()
                if not failure.unavailable or attempt + 1 == len(replicas) or budget <= 0:
                    raise
                continue
            if reply.kind == ERROR_REPLY:
                message = plugin_pb2.CallError.FromString(reply.body).message
                raise CallFailed(f"plugin error: {message}")
            return reply
        raise CallFailed("no replica")  # pragma: no cover - the loop returns or raises

    async def close(self) -> None:
        await asyncio.gather(*(replica.close() for replica in self.replicas),
                             return_exceptions=True)

"""Protobuf wire encoding of the Exchange stream's hot messages, written and read by hand.

Building a ``HttpRequest`` message field by field and serializing it costs more than writing
its bytes: every ``add(name=..., value=...)`` on a message looks its fields up by name. The
edge writes the request view, the calls around it, and reads the replies' call ids directly
(https://protobuf.dev/programming-guides/encoding/); the bytes parse as the messages of
``plugin.proto`` (tests/unit/edge/plugins/test_wire.py holds them equal). Everything else is
parsed with the protobuf runtime.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

__all__ = [
    "EMPTY_PROCEED",
    "ReplyPart",
    "add_encoded_pair",
    "add_field",
    "add_pair",
    "add_string",
    "pair",
    "plugin_call",
    "read_replies",
    "varint",
]

EMPTY_PROCEED: Final = b"\x12\x00"
"""A ``RequestVerdict``'s fields after its call id when it proceeds with no change."""
REQUEST_REPLY: Final = 1
RESPONSE_REPLY: Final = 2
ERROR_REPLY: Final = 3
"""``PluginReply`` oneof fields: the verdict of a request call, of a response call, an error."""

_TABLE: Final = 4096


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


_VARINTS: Final = [_encode_varint(value) for value in range(_TABLE)]
"""The varints of the lengths most fields have, made once: a message is written as a list of
pieces joined once, and a piece looked up costs less than one built (or than appending to a
``bytearray``, a method call per byte in compiled code)."""


_LOW: Final = [bytes((0x80 | low,)) for low in range(0x80)]
"""A varint's first byte when more follow, by its seven bits."""


def varint(value: int) -> bytes:
    """``value`` (0 or more) as a protobuf varint."""
    if value < _TABLE:
        return _VARINTS[value]
    if value < _TABLE << 7:  # call ids, and most other values past the table
        return _LOW[value & 0x7F] + _VARINTS[value >> 7]
    return _encode_varint(value)


def _size(value: int) -> int:
    """Bytes of ``value`` as a varint."""
    if value < 0x80:
        return 1
    size = 2
    value >>= 14
    while value:
        value >>= 7
        size += 1
    return size


def add_field(parts: list[bytes], tag: bytes, payload: bytes) -> None:
    """Add a length-delimited field (``tag``: its one-byte key) to a message's pieces."""
    parts.append(tag)
    parts.append(varint(len(payload)))
    parts.append(payload)


def add_string(parts: list[bytes], tag: bytes, value: str) -> None:
    """Add a string field, or nothing for ``""``."""
    if value:
        data = value.encode()
        parts.append(tag)
        parts.append(varint(len(data)))
        parts.append(data)


def add_pair(parts: list[bytes], tag: bytes, name: str, value: str) -> None:
    """Add a ``{1: name, 2: value}`` message field (a map entry, a header, a query entry)
    without building the inner message first."""
    add_encoded_pair(parts, tag, name.encode(), value.encode())


def _pair_size(key_size: int, data_size: int) -> int:
    """Bytes of a ``{1: name, 2: value}`` message of these sizes."""
    return 2 + _size(key_size) + key_size + _size(data_size) + data_size


def add_encoded_pair(parts: list[bytes], tag: bytes, key: bytes, data: bytes) -> None:
    """:func:`add_pair` with the name and value already UTF-8."""
    key_size = len(key)
    data_size = len(data)
    parts.append(tag)
    parts.append(varint(_pair_size(key_size, data_size)))
    parts.append(b"\x0a")
    parts.append(varint(key_size))
    parts.append(key)
    parts.append(b"\x12")
    parts.append(varint(data_size))
    parts.append(data)


def pair(tag: bytes, name: str, value: str) -> bytes:
    """:func:`add_pair`'s field on its own."""
    parts: list[bytes] = []
    add_encoded_pair(parts, tag, name.encode(), value.encode())
    return b"".join(parts)


def plugin_call(kind: bytes, inner: list[bytes], size: int, timeout_ms: int,
                trace: Mapping[str, str]) -> bytes:
    """One element of ``PluginCalls.calls``: a ``PluginCall`` whose ``kind`` field (its
    one-byte key) holds the message of pieces ``inner`` (``size`` bytes), with ``timeout_ms``
    and the trace context. Joined once: no piece is copied twice."""
    traced = [pair(b"\x22", key, value) for key, value in trace.items()] if trace else []
    call_size = 1 + _size(size) + size + 1 + _size(timeout_ms)
    for field in traced:
        call_size += len(field)
    parts = [b"\x0a", varint(call_size), kind, varint(size)]
    parts += inner
    parts.append(b"\x18")
    parts.append(varint(timeout_ms))
    parts += traced
    return b"".join(parts)


def _read_varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if at >= len(data) or shift > 63:
            raise ValueError("truncated varint")
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, at
        shift += 7


def _skip(data: bytes, at: int, wire_type: int) -> int:
    if wire_type == 0:
        return _read_varint(data, at)[1]
    if wire_type == 1:
        return at + 8
    if wire_type == 2:
        size, at = _read_varint(data, at)
        return at + size
    if wire_type == 5:
        return at + 4
    raise ValueError(f"unsupported wire type {wire_type}")


class ReplyPart:
    """One ``PluginReply``: which kind (``REQUEST_REPLY``, ...), its call id and the encoded
    verdict or error. ``rest``: the verdict's bytes after a leading call id, when it leads."""

    def __init__(self, kind: int, call_id: int, body: bytes, rest: bytes | None) -> None:
        self.kind = kind
        self.call_id = call_id
        self.body = body
        self.rest = rest


def _call_id(body: bytes) -> tuple[int, bytes | None]:
    """The ``call_id`` (field 1) of a verdict or error, and the bytes after it when it is the
    first field (as serializers write it)."""
    at = 0
    first = True
    while at < len(body):
        key, at = _read_varint(body, at)
        if key == 0x08:
            value, end = _read_varint(body, at)
            return value, body[end:] if first else None
        at = _skip(body, at, key & 7)
        first = False
    if at > len(body):
        raise ValueError("truncated field")
    return 0, None


def read_replies(payload: bytes) -> list[ReplyPart]:
    """The replies of an encoded ``PluginReplies`` (``ValueError`` when it is malformed);
    replies of unknown kinds are left out."""
    parts: list[ReplyPart] = []
    at = 0
    while at < len(payload):
        key, at = _read_varint(payload, at)
        if key != 0x0A:  # not a `replies` element
            at = _skip(payload, at, key & 7)
            continue
        size, at = _read_varint(payload, at)
        end = at + size
        if end > len(payload):
            raise ValueError("truncated reply")
        while at < end:
            inner_key, at = _read_varint(payload, at)
            if inner_key & 7 != 2 or not REQUEST_REPLY <= inner_key >> 3 <= ERROR_REPLY:
                at = _skip(payload, at, inner_key & 7)
                continue
            length, at = _read_varint(payload, at)
            body = payload[at:at + length]
            at += length
            call_id, rest = _call_id(body)
            parts.append(ReplyPart(inner_key >> 3, call_id, body, rest))
        if at != end:
            raise ValueError("truncated reply")
    return parts

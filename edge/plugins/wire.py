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
    "plugin_call",
    "put_field",
    "put_pair",
    "put_string",
    "put_varint",
    "read_replies",
]

EMPTY_PROCEED: Final = b"\x12\x00"
"""A ``RequestVerdict``'s fields after its call id when it proceeds with no change."""
REQUEST_REPLY: Final = 1
RESPONSE_REPLY: Final = 2
ERROR_REPLY: Final = 3
"""``PluginReply`` oneof fields: the verdict of a request call, of a response call, an error."""


def _size(value: int) -> int:
    """Bytes of ``value`` as a varint."""
    size = 1
    while value >= 0x80:
        value >>= 7
        size += 1
    return size


def put_varint(out: bytearray, value: int) -> None:
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


def put_field(out: bytearray, tag: int, payload: bytes) -> None:
    """Append a length-delimited field (``tag``: its one-byte key)."""
    out.append(tag)
    put_varint(out, len(payload))
    out += payload


def put_string(out: bytearray, tag: int, value: str) -> None:
    """Append a string field, or nothing for ``""``."""
    if value:
        put_field(out, tag, value.encode())


def put_pair(out: bytearray, tag: int, name: str, value: str) -> None:
    """Append a ``{1: name, 2: value}`` message field (a map entry, a header, a query entry)
    without building the inner message first."""
    key = name.encode()
    data = value.encode()
    out.append(tag)
    put_varint(out, 2 + _size(len(key)) + len(key) + _size(len(data)) + len(data))
    out.append(0x0A)
    put_varint(out, len(key))
    out += key
    out.append(0x12)
    put_varint(out, len(data))
    out += data


def plugin_call(inner: bytes, timeout_ms: int, trace: Mapping[str, str]) -> bytes:
    """A ``PluginCall`` around ``inner`` (its ``request`` or ``response`` field, encoded), as
    one element of ``PluginCalls.calls``."""
    call = bytearray(inner)
    call.append(0x18)
    put_varint(call, timeout_ms)
    for key, value in trace.items():
        put_pair(call, 0x22, key, value)
    out = bytearray()
    put_field(out, 0x0A, bytes(call))
    return bytes(out)


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

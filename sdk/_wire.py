"""The Exchange stream's replies, written as bytes: ``PluginReplies`` without message objects.

Building a ``PluginReply`` around a verdict and a ``PluginReplies`` around those copies every
verdict twice before it is serialized (about 2 µs per call, more than a no-op hook). The
server's Exchange handler sends bytes instead (its response serializer is the identity): each
reply is the verdict serialized once, behind its field key and length
(https://protobuf.dev/programming-guides/encoding/); a verdict that proceeds without changes is
written directly. ``tests/sdk/test_wire.py`` holds the bytes equal to the messages.
"""

from __future__ import annotations

from typing import Final

__all__ = ["ERROR", "REQUEST", "RESPONSE", "reply", "unchanged_proceed", "varint"]

REQUEST: Final = b"\x0a"
RESPONSE: Final = b"\x12"
ERROR: Final = b"\x1a"
"""Keys of the ``PluginReply`` oneof: a request verdict, a response verdict, a ``CallError``."""
_REPLIES: Final = b"\x0a"
"""Key of ``PluginReplies.replies``."""


_LAST: Final = [bytes((low,)) for low in range(0x80)]
_MORE: Final = [bytes((0x80 | low,)) for low in range(0x80)]
"""A varint's bytes by their seven bits: the last one, and one that more bytes follow."""


def varint(value: int) -> bytes:
    """``value`` (0 or more) as a protobuf varint."""
    if value < 0x80:
        return _LAST[value]
    head = _MORE[value & 0x7F]
    value >>= 7
    while value >= 0x80:
        head += _MORE[value & 0x7F]
        value >>= 7
    return head + _LAST[value]


def reply(kind: bytes, message: bytes) -> bytes:
    """One ``PluginReplies.replies`` element: the serialized verdict or error ``message`` as
    the ``kind`` field of a ``PluginReply``; replies joined together are a ``PluginReplies``."""
    inner = kind + varint(len(message)) + message
    return _REPLIES + varint(len(inner)) + inner


def unchanged_proceed(call_id: int) -> bytes:
    """A ``RequestVerdict`` that proceeds without changes, serialized."""
    return (b"\x08" + varint(call_id) + b"\x12\x00") if call_id else b"\x12\x00"

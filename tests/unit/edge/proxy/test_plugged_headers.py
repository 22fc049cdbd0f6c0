"""A plugin call's request headers written straight from the received bytes are the headers
the request view gives (lower-case names, values as text), or are left to that view when a
name repeats (repeated headers go to the plugin joined with ``,``)."""

from __future__ import annotations

import pytest

from edgeway.edge.proxy.plugged import _add_received_headers
from edgeway.edge.proxy.request import Peer, RequestHead
from edgeway.v1 import plugin_pb2


def head(raw: list[tuple[bytes, bytes]]) -> RequestHead:
    return RequestHead(Peer("127.0.0.1"), b"GET", b"/a", raw, False, True)


@pytest.mark.parametrize("raw", [
    [],
    [(b"Host", b"example.com"), (b"Authorization", b"Bearer t"), (b"X-Empty", b"")],
    [(b"X-Latin", "café ü".encode("latin-1")), (b"ACCEPT", b"*/*")],
    [(b"x-long", b"v" * 20_000)],
])
def test_received_headers_are_the_views_headers(raw: list[tuple[bytes, bytes]]) -> None:
    parts: list[bytes] = []
    assert _add_received_headers(parts, raw)
    sent = plugin_pb2.HttpRequest.FromString(b"".join(parts))
    assert [(h.name, h.value) for h in sent.headers] == list(head(raw).headers.items())


def test_a_repeated_name_leaves_the_headers_to_the_view() -> None:
    parts = [b"\x0a\x01r"]  # what was written before stays
    raw = [(b"X-Id", b"a"), (b"Host", b"h"), (b"x-id", b"b")]
    assert not _add_received_headers(parts, raw)
    assert parts == [b"\x0a\x01r"]
    assert head(raw).headers["x-id"] == "a,b"

"""Which headers cross the edge, and the heads it writes towards the upstream and the client.

Hop-by-hop headers (RFC 9110 §7.6.1: ``Connection`` and every header it names, ``Keep-Alive``,
``Proxy-Connection``, ``TE``, ``Trailer``, ``Transfer-Encoding``, ``Upgrade``, and the
``Proxy-Authenticate``/``Proxy-Authorization`` pair) never cross. Framing is the edge's own on
each side: ``Content-Length`` or ``Transfer-Encoding: chunked`` are written for the body as it
is sent. Towards the upstream the edge sets ``Host`` (the target's address unless the route
preserves the client's), appends the client to ``X-Forwarded-For`` and ``Forwarded``, sets
``X-Forwarded-Proto``/``-Host``, the request id and the W3C ``traceparent``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from edgeway.edge.proxy.request import RequestHead

__all__ = [
    "HOP_BY_HOP",
    "REQUEST_KINDS",
    "RESPONSE_KINDS",
    "RESPONSE_SKIP",
    "SPECIAL",
    "ResponseName",
    "connection_tokens",
    "forwarded_for",
    "request_head",
    "request_kind",
    "response_kind",
]

HOP_BY_HOP: Final = frozenset({
    b"connection", b"keep-alive", b"proxy-connection", b"te", b"trailer", b"transfer-encoding",
    b"upgrade", b"proxy-authenticate", b"proxy-authorization",
})  # fmt: skip

# Request headers the edge reads or replaces; the rest are forwarded as they came.
# (Final module constants: compiled code reads them as C values, not from the module's dict.)
HOST: Final = 0
CONNECTION: Final = 1
LENGTH: Final = 2
CHUNKED: Final = 3
EXPECT: Final = 4
REQUEST_ID: Final = 5
TRACEPARENT: Final = 6
XFF: Final = 7
FORWARDED: Final = 8
UPGRADE: Final = 9
DROP: Final = 10
SPECIAL: Final[dict[bytes, int]] = {
    b"host": HOST,
    b"connection": CONNECTION,
    b"content-length": LENGTH,
    b"transfer-encoding": CHUNKED,
    b"expect": EXPECT,
    b"x-request-id": REQUEST_ID,
    b"traceparent": TRACEPARENT,
    b"x-forwarded-for": XFF,
    b"forwarded": FORWARDED,
    b"upgrade": UPGRADE,
    b"x-forwarded-proto": DROP,
    b"x-forwarded-host": DROP,
    **{name: DROP for name in HOP_BY_HOP
       if name not in (b"connection", b"transfer-encoding", b"upgrade")},
}

RESPONSE_SKIP: Final = HOP_BY_HOP | {b"content-length", b"x-request-id"}
"""Upstream response headers the edge does not copy: it writes framing and the request id."""

FORWARD: Final = -1
RESPONSE_LENGTH: Final = 1
RESPONSE_CHUNKED: Final = 2
RESPONSE_DROP: Final = 3
_CACHE_LIMIT: Final = 2048
REQUEST_KINDS: Final[dict[bytes, int]] = {}
"""Request header names as clients spell them, with their kind (see :func:`request_kind`)."""
RESPONSE_KINDS: Final[dict[bytes, ResponseName]] = {}
"""Response header names as upstreams spell them, with their kind (:func:`response_kind`)."""


def request_kind(name: bytes) -> int:
    """What the edge does with a request header called ``name`` as sent (any case): one of
    the ``SPECIAL`` kinds, or ``FORWARD``. Names are remembered as clients spell them, so the
    common ones cost one dict lookup."""
    kind = REQUEST_KINDS.get(name)
    if kind is None:
        kind = SPECIAL.get(name.lower(), FORWARD)
        if len(REQUEST_KINDS) < _CACHE_LIMIT:
            REQUEST_KINDS[name] = kind
    return kind


class ResponseName:
    """A response header name as an upstream spelled it: its ``kind`` (:func:`response_kind`)
    and the name in lower case (to compare with the names policies set, without another
    lookup by the name's bytes)."""

    def __init__(self, kind: int, lower: str) -> None:
        self.kind = kind
        self.lower = lower


def response_kind(name: bytes) -> ResponseName:
    """What the edge does with a response header called ``name``: ``FORWARD`` it, note the
    ``RESPONSE_LENGTH`` or ``RESPONSE_CHUNKED`` framing, or ``RESPONSE_DROP`` it."""
    found = RESPONSE_KINDS.get(name)
    if found is None:
        lower = name.lower()
        if lower == b"content-length":
            kind = RESPONSE_LENGTH
        elif lower == b"transfer-encoding":
            kind = RESPONSE_CHUNKED
        else:
            kind = RESPONSE_DROP if lower in RESPONSE_SKIP else FORWARD
        found = ResponseName(kind, lower.decode("latin-1"))
        if len(RESPONSE_KINDS) < _CACHE_LIMIT:
            RESPONSE_KINDS[name] = found
    return found


def connection_tokens(value: bytes) -> frozenset[bytes]:
    """The header names listed in a ``Connection`` header, lower case."""
    return frozenset(token.strip().lower() for token in value.split(b",") if token.strip())


def forwarded_for(client_ip: str, host: bytes | None, proto: bytes) -> bytes:
    """One ``Forwarded`` element (RFC 7239) for this hop: ``for``, ``host``, ``proto``."""
    node = f'"[{client_ip}]"' if ":" in client_ip else client_ip
    element = b"for=" + node.encode()
    if host:
        element += b';host="' + host.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'
    return element + b";proto=" + proto


_CHUNKED: Final = b"transfer-encoding: chunked\r\n"
_UPGRADE: Final = b"connection: upgrade\r\nupgrade: websocket\r\n"


def request_head(head: RequestHead, target: bytes, host: bytes, traceparent: bytes) -> bytes:
    """The upstream request head for ``head``: request line with ``target``, ``host``, the
    client's end-to-end headers, the forwarding headers, request id, ``traceparent`` and the
    body framing, in one ``join``."""
    peer = head.peer
    client = peer.ip_bytes
    element = peer.forwarded(head.host_header)
    xff, fwd = head.xff, head.forwarded_for
    parts = [head.method_bytes, b" ", target, b" HTTP/1.1\r\nhost: ", host, b"\r\n"]
    parts += head.forwarded
    parts += (
        b"x-forwarded-for: ", xff + b", " + client if xff else client,
        b"\r\nx-forwarded-proto: http\r\nforwarded: ", fwd + b", " + element if fwd else element,
        b"\r\nx-request-id: ", head.request_id_bytes, b"\r\ntraceparent: ", traceparent, b"\r\n",
    )  # fmt: skip
    if head.host_header:
        parts += (b"x-forwarded-host: ", head.host_header, b"\r\n")
    if head.upgrade:
        parts.append(_UPGRADE)
    if head.chunked:
        parts.append(_CHUNKED)
    elif head.length is not None:
        parts.append(b"content-length: %d\r\n" % head.length)
    parts.append(b"\r\n")
    return b"".join(parts)

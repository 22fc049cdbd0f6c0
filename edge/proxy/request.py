"""A parsed request head: what routing, policies and forwarding read, computed in one pass.

:class:`RequestHead` is built when the parser completes the head. One pass over the headers
picks out what the edge needs (host, framing, ``Expect``, request id, ``traceparent``,
``X-Forwarded-For``/``Forwarded``) and collects every other end-to-end header as a ready
``name: value\\r\\n`` piece for the upstream. The path is normalized once here. Header and
query lookups for route conditions and policies are built lazily, only when asked for.

It is the ``Request`` policies read (``method``, ``path``, ``host``, ``headers``) and the
``ConditionSource`` the router asks about header and query conditions.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final
from urllib.parse import parse_qsl

from httptools import parse_url
from httptools.parser.errors import HttpParserInvalidURLError

from edgeway.edge.compile.model import CompiledConsumer
from edgeway.edge.proxy import headers as h
from edgeway.edge.proxy.errors import BadRequest, EdgeError, ExpectationFailed
from edgeway.edge.routing import normalize_host, normalize_path

__all__ = ["Peer", "RequestHead", "lower_name", "new_request_id"]

_SANE_ID: Final = re.compile(r"[A-Za-z0-9._~:+/=@-]{1,128}")
_METHODS: Final = {
    m.encode(): m for m in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
}
_getrandbits: Final = random.getrandbits
_NAMES: Final[dict[bytes, str]] = {}
"""Header names as clients and upstreams spell them, lower case (the common ones cost one
lookup): one memo for request and response heads."""
_NAMES_LIMIT: Final = 2048
_NO_PARAMS: Final[Mapping[str, str]] = MappingProxyType({})
""":attr:`RequestHead.params` before routing, shared (a class attribute's default that is not a
literal would be evaluated for every instance)."""


def lower_name(name: bytes) -> str:
    """Header ``name`` as a client or an upstream spelled it, in lower case (the common ones:
    one lookup)."""
    key = _NAMES.get(name)
    if key is None:
        key = name.decode("latin-1").lower()
        if len(_NAMES) < _NAMES_LIMIT:
            _NAMES[name] = key
    return key


def new_request_id() -> str:
    """A fresh request id: 32 random hex digits."""
    return _getrandbits(128).to_bytes(16, "big").hex()  # a third of an f-string's cost


class Peer:
    """The client of one connection, with what its requests tend to repeat, computed once:
    its address as bytes, its normalized ``Host`` and its ``Forwarded`` element."""


    def __init__(self, ip: str) -> None:
        self.ip = ip
        self.ip_bytes = ip.encode()
        self._host_raw: bytes | None = None
        self._host = ""
        self._element_host: bytes | None = b"\x00"
        self._element = b""

    def host(self, raw: bytes) -> str:
        """``raw`` (a ``Host`` value) normalized (:func:`normalize_host`)."""
        if raw != self._host_raw:
            self._host_raw, self._host = raw, normalize_host(raw.decode("latin-1"))
        return self._host

    def forwarded(self, host: bytes | None) -> bytes:
        """This hop's ``Forwarded`` element for a request to ``host``."""
        if host != self._element_host:
            self._element_host = host
            self._element = h.forwarded_for(self.ip, host, b"http")
        return self._element


class RequestHead:
    """One request's head, parsed; see the module docstring. Attributes that most requests
    leave alone default at class level (no per-request write)."""

    error: EdgeError | None = None
    params: Mapping[str, str] = _NO_PARAMS
    """The route's path parameters, once routed."""
    _headers: dict[str, str] | None = None
    header_changes: Mapping[str, str | None] | None = None
    """Header changes of the policies (see :meth:`changed`)."""
    _query: dict[str, str] | None = None
    length: int | None = None
    chunked = False
    expect_continue = False
    host_header: bytes | None = None
    xff: bytes | None = None
    forwarded_for: bytes | None = None
    traceparent: bytes | None = None
    upgrade = False
    """A WebSocket handshake (``Upgrade: websocket`` and ``Connection: upgrade``)."""
    consumer: CompiledConsumer | None = None
    """The caller, once an authentication policy identified one."""
    upstream_path: str | None = None
    """The path a plugin chose for the upstream (replaces the route's strip/rewrite result)."""

    def __init__(
        self,
        peer: Peer,
        method: bytes,
        url: bytes,
        raw: list[tuple[bytes, bytes]],
        http10: bool,
        keep_alive: bool,
    ) -> None:
        self.peer = peer
        self.client_ip = peer.ip
        self.method_bytes = method
        self.method = _METHODS.get(method) or method.decode("latin-1")
        self.raw = raw
        self.http10 = http10
        self.keep_alive = keep_alive
        request_id: bytes | None = None
        upgrade: bytes | None = None
        tokens: frozenset[bytes] = frozenset()
        forwarded: list[bytes] = []
        kinds = h.REQUEST_KINDS
        for name, value in raw:
            kind = kinds.get(name)
            if kind is None:
                kind = h.request_kind(name)
            if kind < 0:
                forwarded += (name, b": ", value, b"\r\n")
            elif kind == h.HOST:
                if self.host_header is not None:
                    self.error = BadRequest("more than one Host header")
                self.host_header = value
            elif kind == h.LENGTH:
                self.length = int(value)
            elif kind == h.CHUNKED:
                if value.strip().lower() != b"chunked":
                    self.error = BadRequest("only the chunked transfer-encoding is supported")
                self.chunked = True
            elif kind == h.CONNECTION:
                tokens = tokens | h.connection_tokens(value)
            elif kind == h.REQUEST_ID:
                request_id = value
            elif kind == h.TRACEPARENT:
                self.traceparent = value
            elif kind == h.XFF:
                self.xff = value if self.xff is None else self.xff + b", " + value
            elif kind == h.FORWARDED:
                fwd: bytes | None = self.forwarded_for
                self.forwarded_for = value if fwd is None else fwd + b", " + value
            elif kind == h.UPGRADE:
                upgrade = value
            elif kind == h.EXPECT:
                if value.strip().lower() != b"100-continue":
                    self.error = ExpectationFailed()
                elif not http10:
                    self.expect_continue = True
        if tokens:
            if b"upgrade" in tokens and upgrade is not None \
                    and upgrade.strip().lower() == b"websocket":
                self.upgrade = True
            if tokens - h.HOP_BY_HOP:
                forwarded = _without(raw, tokens)
        if self.chunked and http10 and self.error is None:
            self.error = BadRequest("HTTP/1.0 has no chunked transfer-encoding")
        self.forwarded = forwarded
        if request_id is not None and _SANE_ID.fullmatch(text := request_id.decode("latin-1")):
            self.request_id, self.request_id_bytes = text, request_id
        else:
            self.request_id = new_request_id()
            self.request_id_bytes = self.request_id.encode()
        self._parse_target(url)
        if self.host_header is None and not http10 and self.error is None:
            self.error = BadRequest("a Host header is required")

    def _parse_target(self, url: bytes) -> None:
        """Split the request target into path and query and normalize the path."""
        if url.startswith(b"/"):
            text = url.decode("latin-1")
        elif url == b"*":
            text = "*"
        else:
            text = self._absolute(url)
        raw_path, _, query = text.partition("?")
        if "#" in query or "#" in raw_path:
            raw_path, _, _ = raw_path.partition("#")
            query = query.partition("#")[0]
        self.path = normalize_path(raw_path)
        self.path_changed = self.path != raw_path or "#" in text
        self.query = query
        self.target = url if not self.path_changed and url.startswith(b"/") else b""
        """The raw target when it can be forwarded as it came (else built from path+query)."""
        self.host = self.peer.host(self.host_header) if self.host_header else ""

    def _absolute(self, url: bytes) -> str:
        """An absolute-form target (``http://host/path``): its host wins over ``Host``."""
        try:
            parsed = parse_url(url)
        except HttpParserInvalidURLError:
            parsed = None
        if parsed is None or not parsed.schema or not parsed.host:
            self.error = BadRequest("the request target must be a path or an absolute URL")
            return "/"
        authority = parsed.host + (b":%d" % parsed.port if parsed.port else b"")
        self.host_header = authority
        path = (parsed.path or b"/").decode("latin-1")
        return path + ("?" + parsed.query.decode("latin-1") if parsed.query else "")

    # -- what policies and route conditions read --------------------------------------------

    @property
    def headers(self) -> Mapping[str, str]:
        """Headers by lower-case name (repeated ones joined with ``,``) as received, built on
        first use."""
        built = self._headers
        if built is None:
            built = self._headers = {}
            for name, value in self.raw:
                key = lower_name(name)
                if key in built:
                    built[key] += "," + value.decode("latin-1")
                else:
                    built[key] = value.decode("latin-1")
        return built

    def received(self, name: str) -> str | None:
        """Header ``name`` (lower case) as received, like :attr:`headers` gives it, without
        building that mapping when it is not built yet (a plugin's cache key reads one or
        two headers)."""
        built = self._headers
        if built is not None:
            return built.get(name)
        found: str | None = None
        size = len(name)
        for key, value in self.raw:
            if len(key) == size and lower_name(key) == name:  # Latin-1: a byte per character
                text = value.decode("latin-1")
                found = text if found is None else found + "," + text
        return found

    def header(self, name: str) -> str | None:
        """Header ``name`` (lower case) with the policies' changes (once forwarding)."""
        changes = self.header_changes
        if changes is not None and name in changes:
            return changes[name]
        return self.received(name)

    def changed(self, *, headers: Mapping[str, str | None] | None = None,
                query: str | None = None) -> None:  # fmt: skip
        """Policies changed headers (``None``: removed) or the query (the string to forward)
        before the request is forwarded."""
        if headers is not None:
            self.header_changes = headers
        if query is not None:
            self.query = query
            self.target = b""  # rebuilt from the path and the new query
            self._query = None

    def query_param(self, name: str) -> str | None:
        """The first value of query parameter ``name`` (percent- and ``+``-decoded)."""
        if self._query is None:
            parsed: dict[str, str] = {}
            for key, value in parse_qsl(self.query, keep_blank_values=True):
                parsed.setdefault(key, value)
            self._query = parsed
        return self._query.get(name)


def _without(raw: list[tuple[bytes, bytes]], tokens: frozenset[bytes]) -> list[bytes]:
    """The forwarded pieces again, leaving out the headers ``Connection`` names."""
    pieces: list[bytes] = []
    for name, value in raw:
        lname = name.lower()
        if lname not in h.SPECIAL and lname not in tokens:
            pieces += (name, b": ", value, b"\r\n")
    return pieces

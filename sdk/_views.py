"""What a plugin's hooks see: the request, the upstream's response and finished exchanges.

A :class:`Request` is the whole request view the edge sent in one message, read through helpers
(``request.header("x")``); its ``set_*``/``remove_*`` methods record mutations that the edge
applies before the upstream (or the next plugin) sees the request, and reads reflect them.
A :class:`ResponseView` does the same for the upstream's response. Header names are
case-insensitive; values may not hold CR, LF or NUL.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from edgeway.v1 import plugin_pb2

__all__ = ["Consumer", "LogEntry", "Request", "ResponseView", "check_header"]

_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_BAD_VALUE = re.compile(r"[\r\n\x00]")


def check_header(name: str, value: str | None = None) -> str:
    """The lower-case header name; ``ValueError`` for a name that is not an HTTP token or a
    value with CR, LF or NUL (header injection)."""
    if not _TOKEN.fullmatch(name):
        raise ValueError(f"invalid header name {name!r}")
    if value is not None and _BAD_VALUE.search(value):
        raise ValueError(f"invalid value for header {name!r}: CR, LF and NUL are not allowed")
    return name.lower()


def _as_bytes(data: bytes | str) -> bytes:
    return data.encode() if isinstance(data, str) else bytes(data)


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


@dataclass(frozen=True, slots=True)
class Consumer:
    """The authenticated caller (a consumer of the gateway config)."""

    name: str
    groups: frozenset[str]
    tags: Mapping[str, str]


class _Headers:
    """Header entries plus set/removed overlays; shared by request and response views."""

    __slots__ = ("_entries", "removed", "set")

    def __init__(self, entries: Any) -> None:
        self._entries: Any = entries  # repeated HeaderEntry, lower-case names
        self.set: dict[str, str] = {}
        self.removed: set[str] = set()

    def get(self, name: str) -> str | None:
        name = name.lower()
        if self.set:
            found = self.set.get(name)
            if found is not None:
                return found
        if name in self.removed:
            return None
        for entry in self._entries:
            if entry.name == name:
                return str(entry.value)
        return None

    def values(self, name: str) -> list[str]:
        name = name.lower()
        if name in self.set:
            return [self.set[name]]
        if name in self.removed:
            return []
        return [str(e.value) for e in self._entries if e.name == name]

    def merged(self) -> Mapping[str, str]:
        merged: dict[str, str] = {}
        for entry in self._entries:
            if entry.name in self.removed or entry.name in self.set:
                continue
            before = merged.get(entry.name)
            merged[entry.name] = entry.value if before is None else f"{before}, {entry.value}"
        merged.update(self.set)
        return MappingProxyType(merged)

    def put(self, name: str, value: str) -> None:
        key = check_header(name, value)
        self.removed.discard(key)
        self.set[key] = value

    def drop(self, name: str) -> None:
        key = check_header(name)
        self.set.pop(key, None)
        self.removed.add(key)

    def entries(self) -> list[plugin_pb2.HeaderEntry]:
        return [plugin_pb2.HeaderEntry(name=n, value=v) for n, v in self.set.items()]


_UNCHANGED = plugin_pb2.RequestMutations()
"""The mutations of a call that changed nothing (copied into its verdict, never changed)."""


class Request:
    """The request as the edge saw it when it called the plugin, and this call's mutations."""

    __slots__ = ("_body", "_context", "_headers", "_message", "_path", "_query", "_removed_query")

    def __init__(self, message: plugin_pb2.HttpRequest) -> None:
        self._message = message
        self._headers = _Headers(message.headers)
        self._query: dict[str, str] = {}
        self._removed_query: set[str] = set()
        self._path: str | None = None
        self._body: bytes | None = None
        self._context: dict[str, str] = {}

    # -- what the edge sent ---------------------------------------------------------------
    @property
    def id(self) -> str:
        """The edge's request id (also in its access log)."""
        return self._message.request_id

    @property
    def method(self) -> str:
        return self._message.method

    @property
    def path(self) -> str:
        """The path without the query string (as set by :meth:`set_path`, if it was)."""
        return self._message.path if self._path is None else self._path

    @property
    def scheme(self) -> str:
        return self._message.scheme

    @property
    def client_address(self) -> str:
        return self._message.client_address

    @property
    def route_id(self) -> str:
        return self._message.route_id

    @property
    def params(self) -> Mapping[str, str]:
        """The route's path parameters (``/users/{id}`` -> ``{"id": "7"}``)."""
        return self._message.params

    @property
    def stage(self) -> str:
        return self._message.stage

    @property
    def variables(self) -> Mapping[str, str]:
        """The stage variables of the deployment serving the request."""
        return self._message.variables

    @property
    def config_version(self) -> int:
        return self._message.config_version

    @property
    def consumer(self) -> Consumer | None:
        """The authenticated caller, or ``None`` when the request is anonymous."""
        consumer = self._message.consumer
        if not consumer.name:
            return None
        return Consumer(consumer.name, frozenset(consumer.groups), dict(consumer.tags))

    @property
    def body(self) -> bytes:
        """The body, when the plugin declared ``request_body`` (else empty)."""
        return self._message.body if self._body is None else self._body

    @property
    def body_truncated(self) -> bool:
        """Whether the body was longer than the declared ``request_body`` bytes."""
        return self._message.body_truncated

    def json(self) -> Any:
        """The body parsed as JSON (raises ``ValueError`` when it is not JSON)."""
        return json.loads(self.body)

    def header(self, name: str, default: str | None = None) -> str | None:
        """The first value of header ``name`` (any case), or ``default``."""
        found = self._headers.get(name)
        return default if found is None else found

    def header_values(self, name: str) -> list[str]:
        """Every value of header ``name``, in order."""
        return self._headers.values(name)

    @property
    def headers(self) -> Mapping[str, str]:
        """All headers, lower-case names, repeated ones joined with ``", "``."""
        return self._headers.merged()

    def query_param(self, name: str, default: str | None = None) -> str | None:
        """The first value of query parameter ``name`` (case-sensitive), or ``default``."""
        if name in self._query:
            return self._query[name]
        if name in self._removed_query:
            return default
        for entry in self._message.query:
            if entry.name == name:
                return str(entry.value)
        return default

    @property
    def query(self) -> Mapping[str, str]:
        """Query parameters, the first value of each."""
        merged: dict[str, str] = {}
        for entry in self._message.query:
            if entry.name not in self._removed_query:
                merged.setdefault(entry.name, entry.value)
        merged.update(self._query)
        return MappingProxyType(merged)

    @property
    def context(self) -> Mapping[str, str]:
        """Context values set by earlier plugins and policies, and by this call."""
        if not self._context:
            return self._message.context
        return MappingProxyType({**self._message.context, **self._context})

    # -- mutations ------------------------------------------------------------------------
    def set_header(self, name: str, value: str) -> None:
        """Set (replace) a header the upstream will see."""
        self._headers.put(name, value)

    def remove_header(self, name: str) -> None:
        self._headers.drop(name)

    def set_query(self, name: str, value: str) -> None:
        """Set (replace) a query parameter the upstream will see."""
        self._removed_query.discard(name)
        self._query[name] = value

    def remove_query(self, name: str) -> None:
        self._query.pop(name, None)
        self._removed_query.add(name)

    def set_path(self, path: str) -> None:
        """Send the request to another path (without query string) of the route's upstream."""
        if not path.startswith("/") or _BAD_VALUE.search(path) or "?" in path:
            raise ValueError(f"invalid path {path!r}: must start with '/', no '?' or controls")
        self._path = path

    def set_body(self, body: bytes | str) -> None:
        """Replace the request body (the edge fixes Content-Length)."""
        self._body = _as_bytes(body)

    def set_json(self, value: Any) -> None:
        """Replace the request body with ``value`` as JSON, and set Content-Type."""
        self._body = _json_bytes(value)
        self._headers.put("content-type", "application/json")

    def set_context(self, key: str, value: str) -> None:
        """A value for later plugins, the upstream's headers and the access log."""
        if not isinstance(value, str):
            raise TypeError(f"context value for {key!r} must be a string")
        self._context[key] = value

    def _changed(self) -> bool:
        """Whether this call changed anything."""
        headers = self._headers
        return bool(headers.set or headers.removed or self._query or self._removed_query
                    or self._context or self._path is not None or self._body is not None)

    def _mutations(self) -> plugin_pb2.RequestMutations:
        """What this call changed, as the wire message (the SDK sends it)."""
        if not self._changed():
            return _UNCHANGED
        mutations = plugin_pb2.RequestMutations(
            set_headers=self._headers.entries(),
            remove_headers=sorted(self._headers.removed),
            set_query=[plugin_pb2.QueryEntry(name=n, value=v) for n, v in self._query.items()],
            remove_query=sorted(self._removed_query),
            context=self._context,
        )
        if self._path is not None:
            mutations.path = self._path
        if self._body is not None:
            mutations.body = self._body
        return mutations


class ResponseView:
    """The upstream's response, before the client sees it, and this call's mutations."""

    __slots__ = ("_body", "_call", "_headers", "_request", "_status")

    def __init__(self, call: plugin_pb2.ResponseCall) -> None:
        self._call = call
        self._request = Request(call.request)
        self._headers = _Headers(call.headers)
        self._status: int | None = None
        self._body: bytes | None = None

    @property
    def request(self) -> Request:
        """The request this response answers (changes to it have no effect any more)."""
        return self._request

    @property
    def status(self) -> int:
        return self._call.status if self._status is None else self._status

    @property
    def body(self) -> bytes:
        """The body, when the plugin declared ``response_body`` (else empty)."""
        return self._call.body if self._body is None else self._body

    @property
    def body_truncated(self) -> bool:
        return self._call.body_truncated

    def json(self) -> Any:
        return json.loads(self.body)

    def header(self, name: str, default: str | None = None) -> str | None:
        found = self._headers.get(name)
        return default if found is None else found

    @property
    def headers(self) -> Mapping[str, str]:
        return self._headers.merged()

    def set_status(self, status: int) -> None:
        if not 200 <= status <= 599:
            raise ValueError(f"status must be between 200 and 599, got {status}")
        self._status = status

    def set_header(self, name: str, value: str) -> None:
        self._headers.put(name, value)

    def remove_header(self, name: str) -> None:
        self._headers.drop(name)

    def set_body(self, body: bytes | str) -> None:
        self._body = _as_bytes(body)

    def set_json(self, value: Any) -> None:
        self._body = _json_bytes(value)
        self._headers.put("content-type", "application/json")

    def _verdict(self) -> plugin_pb2.ResponseVerdict:
        """What this call changed, as the wire message (the SDK sends it)."""
        verdict = plugin_pb2.ResponseVerdict(
            call_id=self._call.call_id,
            set_headers=self._headers.entries(),
            remove_headers=sorted(self._headers.removed),
        )
        if self._status is not None:
            verdict.status = self._status
        if self._body is not None:
            verdict.body = self._body
        return verdict


class LogEntry:
    """One finished exchange, as delivered to ``on_log`` in batches."""

    __slots__ = ("_entry", "request")

    def __init__(self, entry: plugin_pb2.LogEntry) -> None:
        self._entry = entry
        self.request = Request(entry.request)

    @property
    def status(self) -> int:
        return self._entry.status

    @property
    def bytes_sent(self) -> int:
        return self._entry.bytes_sent

    @property
    def latency_ms(self) -> float:
        return self._entry.latency_ms

    @property
    def upstream_latency_ms(self) -> float:
        return self._entry.upstream_latency_ms

    @property
    def trace_id(self) -> str:
        return self._entry.trace_id

    @property
    def plugin_failures(self) -> tuple[str, ...]:
        """Plugins that failed open on this request."""
        return tuple(self._entry.plugin_failures)

    @property
    def response_headers(self) -> Mapping[str, str]:
        return MappingProxyType({e.name: e.value for e in self._entry.response_headers})

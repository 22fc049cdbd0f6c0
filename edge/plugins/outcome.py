"""What a plugin call means for the request: the outcomes the proxy acts on, and instances.

A :class:`PluginInstance` is one policy entry naming a plugin, with its config as the wire
``Struct``, built once per config version. A call ends in a :class:`RequestOutcome` or a
:class:`ResponseOutcome`: the plugin's verdict, or, when the plugin failed, ``failure`` set and,
for a fail-closed endpoint, a 503 ``plugin_unavailable`` JSON answer in ``response``.
Verdicts are checked before the proxy sees them (header names and values, statuses), so a
plugin cannot inject headers: a bad verdict is a failure like a timeout.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

from google.protobuf import struct_pb2

from edgeway.edge.compile.model import PolicyStep
from edgeway.v1 import plugin_pb2

__all__ = [
    "PROCEED",
    "PluginInstance",
    "RequestOutcome",
    "ResponseOutcome",
    "failure_response",
    "request_problem",
    "response_problem",
]

FAILURE_CODE = "plugin_unavailable"
_TOKEN: Final = re.compile(r"[!#$%&'*+.^_`|~0-9a-z-]+")
_BAD_VALUE: Final = re.compile(r"[\r\n\x00]")
_PATH = re.compile(r"/[A-Za-z0-9\-._~!$&'()*+,;=:@/%]*")
_FRAMING = frozenset({"content-length", "transfer-encoding", "connection", "keep-alive",
                      "upgrade", "te", "trailer", "proxy-connection", "x-request-id"})
_CONTEXT_KEY = re.compile(r"[A-Za-z0-9._-]{1,64}")


def _thaw(value: Any) -> Any:
    """Plain JSON data from the compile step's read-only mappings and tuples."""
    if isinstance(value, Mapping):
        return {str(key): _thaw(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_thaw(item) for item in value]
    return value


@dataclass(frozen=True, eq=False)
class PluginInstance:
    """A plugin with one instance's config: build once per config version, call many times.

    ``key`` identifies plugin and config (a digest), so verdicts of instances with different
    configs are never confused; ``source`` is the entry's path in the config, for logs.
    """

    plugin: str
    config: struct_pb2.Struct
    key: bytes
    source: str = ""
    wire: bytes = b""
    """``config`` serialized, as it goes out in every call."""

    @classmethod
    def build(cls, plugin: str, config: Mapping[str, Any] | None = None,
              source: str = "") -> PluginInstance:
        struct = struct_pb2.Struct()
        struct.update(_thaw(config or {}))
        digest = hashlib.blake2b(struct.SerializeToString(deterministic=True), digest_size=16,
                                 person=b"edgeway-plugin", key=plugin.encode()[:64])
        return cls(plugin, struct, digest.digest(), source, struct.SerializeToString())

    @classmethod
    def of_step(cls, step: PolicyStep) -> PluginInstance:
        """The instance of a compiled policy step whose ``plugin`` is set."""
        if step.plugin is None:
            raise ValueError(f"policy step {step.source} is not a plugin")
        return cls.build(step.plugin, step.config, step.source)


@dataclass(frozen=True)
class RequestChanges:
    """A proceed verdict's changes to the request as plain values, read out of the message
    once: a cached verdict is applied to many requests, and reading a protobuf message's fields
    costs more than applying them."""

    headers: Mapping[str, str | None] = field(default_factory=dict, hash=False)
    """Every upstream header change at once, as ``Exchange.change_headers`` takes them (lower
    case names; ``None``: removed): the set headers, then the removed ones, then each context
    value's header (:func:`context_header`). Worked out once per verdict, so a cached verdict
    costs one call per request."""
    set_query: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """Parameters replaced, each with all its values (the message's entries grouped by name)."""
    remove_query: tuple[str, ...] = ()
    path: str | None = None
    body: bytes | None = None
    context: Mapping[str, str] = field(default_factory=dict, hash=False)
    """Context values set, as ``Exchange.add_contexts`` takes them."""

    @classmethod
    def of(cls, m: plugin_pb2.RequestMutations, context_prefix: str = "") -> RequestChanges:
        """The changes of ``m``; ``context_prefix``: the endpoint's ``context_header_prefix``
        (empty: context values are not sent upstream)."""
        grouped: dict[str, list[str]] = {}
        for entry in m.set_query:
            grouped.setdefault(entry.name, []).append(entry.value)
        context = dict(m.context.items())
        headers: dict[str, str | None] = {h.name.lower(): h.value for h in m.set_headers}
        headers.update((name.lower(), None) for name in m.remove_headers)
        if context_prefix:
            headers.update((context_header(context_prefix, key), value)
                           for key, value in context.items())  # fmt: skip
        return cls(  # immutable: the proxy takes them as they are and remembers their lines
            MappingProxyType(headers),
            tuple((name, tuple(values)) for name, values in grouped.items()),
            tuple(m.remove_query),
            m.path if m.HasField("path") else None,
            m.body if m.HasField("body") else None,
            MappingProxyType(context),
        )  # fmt: skip


def context_header(prefix: str, key: str) -> str:
    """The upstream header of context value ``key``: ``prefix`` + the key in lower case with
    ``.`` and ``_`` as ``-``."""
    return prefix + key.lower().replace(".", "-").replace("_", "-")


@dataclass(frozen=True)
class RequestOutcome:
    """The outcome of ``on_request``: answer with ``response`` when set; otherwise apply
    ``changes`` (if any; ``mutations`` is the message they were read from) and go on.
    ``failure`` says why a plugin was skipped (fail open) or answered for (fail closed);
    ``cached`` that the verdict came from the verdict cache."""

    mutations: plugin_pb2.RequestMutations | None = None
    response: plugin_pb2.DirectResponse | None = None
    failure: str | None = None
    cached: bool = False
    changes: RequestChanges | None = None

    @classmethod
    def proceeding(cls, mutations: plugin_pb2.RequestMutations, *, cached: bool = False,
                   context_prefix: str = "") -> RequestOutcome:  # fmt: skip
        """Go on with ``mutations`` applied (``context_prefix``: see :meth:`RequestChanges.of`)."""
        return cls(mutations, cached=cached,
                   changes=RequestChanges.of(mutations, context_prefix))  # fmt: skip


PROCEED: Final = RequestOutcome()
"""Go on, nothing changed (a plugin without an ``on_request`` hook)."""


@dataclass(frozen=True)
class ResponseOutcome:
    """The outcome of ``on_response``: apply ``verdict`` (status, headers, body changes) or,
    when the plugin failed closed, answer ``response`` (503) instead."""

    verdict: plugin_pb2.ResponseVerdict | None = None
    response: plugin_pb2.DirectResponse | None = None
    failure: str | None = None


def failure_response(plugin: str, reason: str, request_id: str = "") -> plugin_pb2.DirectResponse:
    """The 503 answer of a fail-closed plugin, in the edge's error shape."""
    body = {"code": FAILURE_CODE, "message": f"plugin {plugin!r} failed: {reason}",
            "request_id": request_id}
    return plugin_pb2.DirectResponse(
        status=503, body=json.dumps(body, separators=(",", ":")).encode(),
        headers=[plugin_pb2.HeaderEntry(name="content-type", value="application/json")],
    )  # fmt: skip


def _headers_problem(entries: Any, removed: Any = ()) -> str | None:
    for entry in entries:
        if not _TOKEN.fullmatch(entry.name):
            return f"invalid header name {entry.name!r}"
        if _BAD_VALUE.search(entry.value):
            return f"invalid value for header {entry.name!r}"
    for name in removed:
        if not _TOKEN.fullmatch(name):
            return f"invalid header name {name!r}"
    return None


def request_problem(verdict: plugin_pb2.RequestVerdict) -> str | None:
    """Why a request verdict cannot be applied, or ``None`` when it is fine."""
    outcome = verdict.WhichOneof("outcome")
    if outcome == "respond":
        answer = verdict.respond
        if not 200 <= answer.status <= 599:
            return f"invalid response status {answer.status}"
        return _headers_problem(answer.headers)
    if outcome == "proceed":
        m = verdict.proceed
        if not m.ByteSize():
            return None
        if m.HasField("path") and not _PATH.fullmatch(m.path):
            return f"invalid path {m.path!r} (a percent-encoded path starting with '/')"
        for key, value in m.context.items():
            if not _CONTEXT_KEY.fullmatch(key):
                return f"invalid context key {key!r} (letters, digits, '.', '_', '-')"
            if _BAD_VALUE.search(value):
                return f"invalid value for context key {key!r}"
        return _headers_problem(m.set_headers, m.remove_headers)
    return None  # an empty verdict proceeds unchanged


def response_problem(verdict: plugin_pb2.ResponseVerdict) -> str | None:
    """Why a response verdict cannot be applied, or ``None`` when it is fine."""
    if verdict.HasField("status") and not 200 <= verdict.status <= 599:
        return f"invalid response status {verdict.status}"
    for name in (*(h.name for h in verdict.set_headers), *verdict.remove_headers):
        if name in _FRAMING:
            return f"header {name!r} is the edge's (framing)"
    return _headers_problem(verdict.set_headers, verdict.remove_headers)

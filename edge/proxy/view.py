"""The policies' side of one request in flight: the proxy's ``Exchange`` of the policy contract.

A :class:`PolicyView` is made only for a request whose route has a policy chain (a route without
one never builds it), over the request's :class:`~.request.RequestHead`. It implements
:class:`edgeway.edge.policies.base.Exchange`: reads come from the head and reflect the writes
made so far (a header set by one policy is seen by the next), writes are recorded here and
applied once when the request is forwarded (:meth:`PolicyView.apply`):

- header changes replace the forwarded end-to-end headers; the headers the edge owns (``host``,
  framing, ``connection``, ``x-forwarded-*``, ``forwarded``, ``x-request-id``, ``traceparent``)
  stay the edge's;
- query changes rebuild the query string: parameters nobody changed keep their bytes as sent,
  changed ones are appended percent-encoded;
- the body (when the chain buffered it) is handled by the exchange (:mod:`.policed`).

Response headers set or added by policies are rendered as they are set (a policy may hand a
ready line, :meth:`PolicyView.set_response_line`) and joined once per answer
(:meth:`PolicyView.response_lines`); a *set* header replaces the answer's own of that name.
``at_end`` callbacks run once when the exchange is over (:meth:`PolicyView.finish`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Iterable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qsl, quote, unquote_plus

import structlog

from edgeway.edge.memo import Memo, SharedMemo
from edgeway.edge.proxy.headers import SPECIAL
from edgeway.edge.proxy.local import header_line
from edgeway.edge.proxy.request import lower_name

if TYPE_CHECKING:
    from edgeway.edge.compile.model import CompiledConsumer, CompiledCredential
    from edgeway.edge.proxy.request import RequestHead
    from edgeway.edge.proxy.tracing import RequestTrace

__all__ = ["Finished", "PolicyView", "rebuild_query", "render_lines"]

log = structlog.get_logger(__name__)

_EDGE_OWNED: Final = frozenset(name.decode() for name in SPECIAL)


def rebuild_query(raw: str, changes: Mapping[str, tuple[str, ...] | None]) -> str:
    """``raw`` with the parameters named in ``changes`` replaced (``None``: removed)."""
    kept = [piece for piece in raw.split("&")
            if piece and unquote_plus(piece.partition("=")[0]) not in changes]  # fmt: skip
    for name, values in changes.items():
        if values is not None:
            key = quote(name, safe="")
            kept += [key + "=" + quote(value, safe="") for value in values]
    return "&".join(kept)


def render_lines(pairs: Iterable[tuple[str, str]]) -> bytes:
    """``pairs`` as header lines, byte for byte what :func:`~.local.header_line` makes of each
    (checked for CR, LF and NUL once over the whole text: a clean one is encoded in one go)."""
    parts: list[str] = []
    for name, value in pairs:
        parts.append(name)
        parts.append(": ")
        parts.append(value)
        parts.append("\r\n")
    text = "".join(parts)
    count = len(parts) >> 2
    if text.count("\n") != count or text.count("\r") != count or "\0" in text:
        return b"".join([header_line(parts[i], parts[i + 2]) for i in range(0, len(parts), 4)])
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode()


_RENDERED: Final[Memo[tuple[tuple[str, str], ...], bytes]] = Memo(1024)
"""Upstream header lines added by policies, by their pairs: the same consumer's or cached
verdict's headers come back request after request."""


def _rendered(pairs: tuple[tuple[str, str], ...]) -> bytes:
    """:func:`render_lines` of ``pairs``, memoized."""
    found = _RENDERED.get(pairs)
    return found if found is not None else _RENDERED.put(pairs, render_lines(pairs))


def _added_lines(changes: Mapping[str, str | None]) -> bytes:
    """The upstream header lines ``changes`` add (edge-owned names left out), memoized."""
    added = tuple([(name, value) for name, value in changes.items()
                   if value is not None and name not in _EDGE_OWNED])  # fmt: skip
    return _rendered(added) if added else b""


_SHARED: Final[SharedMemo[bytes]] = SharedMemo(1024, _added_lines)
""":func:`_added_lines` by the immutable change mapping they come from (a cached verdict's,
a consumer's identity)."""


@dataclass(frozen=True)
class Finished:
    """How an exchange ended, for what runs at its end (plugin ``OnLog`` entries)."""

    status: int
    bytes_sent: int
    latency_ms: float
    upstream_ms: float | None
    trace_id: str


class PolicyView:
    """One request as its policies see and change it; see the module docstring. Attributes
    default at class level: a request writes only what its policies use."""

    consumer: CompiledConsumer | None = None
    credential: CompiledCredential | None = None
    verified = False
    body: bytes | None = None
    """The whole request body once buffered (``b""`` without one)."""
    body_changed = False
    header_changes: Mapping[str, str | None] | None = None
    """The upstream header changes so far (``None``: removed). It may be a mapping handed to
    :meth:`change_headers` (a cached verdict's), never written: writes go to ``_changes``."""
    _changes: dict[str, str | None] | None = None
    """``header_changes`` when it is the view's own (writable) dict."""
    query_changes: dict[str, tuple[str, ...] | None] | None = None
    ended: list[Callable[[], None]] | None = None
    task: asyncio.Task[None] | None = None
    """The task finishing this request's hooks, while one runs."""
    trace: RequestTrace | None = None
    """The request's trace (plugin calls continue it)."""
    plugin_context: Mapping[str, str] | None = None
    """Context values set by plugins (sent to later plugins, logged); like ``header_changes``,
    it may be a mapping handed to :meth:`add_contexts`, never written."""
    _plugin_context: dict[str, str] | None = None
    plugin_failures: list[str] | None = None
    """``"plugin: reason"`` of plugins that failed open on this request (logged)."""
    finished: Finished | None = None
    """How the exchange ended, set just before the ``at_end`` callbacks run."""
    keep_head = False
    """Keep the head sent to the client in ``sent_head`` (a plugin logs its headers)."""
    sent_head: bytes | None = None
    _set_names: dict[str, int] | None = None
    """Names of the response headers set by policies (they replace the answer's own), with the
    index of the entry in ``_set_lines`` that holds each one's line..."""
    _set_lines: list[bytes] | None = None
    """... the rendered lines, an entry per call (:meth:`set_response_lines` sets several in
    one entry), joined into the head with one ``extend``."""
    _added: list[tuple[str, bytes]] | None = None
    """Response headers added by policies: name and rendered line."""
    _context: dict[str, Any] | None = None
    _headers: dict[str, str] | None = None
    _query: dict[str, tuple[str, ...]] | None = None
    _query_text: str | None = None

    def __init__(self, head: RequestHead, route_id: str,
                 connection_memo: dict[object, Any]) -> None:  # fmt: skip
        self.head = head
        self.route_id = route_id
        self.connection_memo = connection_memo
        """The client connection's own (:attr:`~.base.Request.connection_memo`)."""

    # -- Request ----------------------------------------------------------------------------

    @property
    def method(self) -> str:
        return self.head.method

    @property
    def path(self) -> str:
        return self.head.path

    @property
    def host(self) -> str:
        return self.head.host

    @property
    def client_ip(self) -> str:
        return self.head.client_ip

    @property
    def request_id(self) -> str:
        return self.head.request_id

    @property
    def params(self) -> Mapping[str, str]:
        return self.head.params

    @property
    def query(self) -> str:
        if self.query_changes is None:
            return self.head.query
        if self._query_text is None:
            self._query_text = rebuild_query(self.head.query, self.query_changes)
        return self._query_text

    @property
    def query_params(self) -> Mapping[str, tuple[str, ...]]:
        if self._query is None:
            grouped: dict[str, list[str]] = {}
            for key, value in parse_qsl(self.head.query, keep_blank_values=True):
                grouped.setdefault(key, []).append(value)
            parsed = {key: tuple(values) for key, values in grouped.items()}
            for name, values in (self.query_changes or {}).items():
                if values is None:
                    parsed.pop(name, None)
                else:
                    parsed[name] = values
            self._query = parsed
        return self._query

    @property
    def headers(self) -> Mapping[str, str]:
        changes = self.header_changes
        if changes is None:
            return self.head.headers
        if self._headers is None:
            merged = dict(self.head.headers)
            for name, value in changes.items():
                if value is None:
                    merged.pop(name, None)
                else:
                    merged[name] = value
            self._headers = merged
        return self._headers

    def header_values(self, name: str) -> tuple[str, ...]:
        changes = self.header_changes
        if changes is not None and name in changes:
            value = changes[name]
            return () if value is None else (value,)
        wanted = name.encode("latin-1")
        return tuple(value.decode("latin-1") for key, value in self.head.raw
                     if key.lower() == wanted)  # fmt: skip

    def header(self, name: str) -> str | None:
        """Header ``name`` (lower case) as :attr:`headers` gives it, without building that
        mapping."""
        changes = self.header_changes
        if changes is not None and name in changes:
            return changes[name]
        return self.head.received(name)

    @property
    def context(self) -> MutableMapping[str, Any]:
        if self._context is None:
            self._context = dict(self.plugin_context) if self.plugin_context else {}
        return self._context

    def context_values(self) -> Mapping[str, Any]:
        """The context so far, without making one (empty when nothing was set)."""
        if self._context is not None:
            return self._context
        return self.plugin_context or {}

    # -- Exchange ---------------------------------------------------------------------------

    def authenticate(
        self,
        consumer: CompiledConsumer | None,
        credential: CompiledCredential | None = None,
        verified: bool = True,
    ) -> None:
        self.consumer, self.credential, self.verified = consumer, credential, verified
        self.head.consumer = consumer  # consistent hashing on the consumer reads the head

    def _own_changes(self) -> dict[str, str | None]:
        """``header_changes`` as the view's own dict (a handed mapping is copied first)."""
        owned = self._changes
        if owned is None:
            handed = self.header_changes
            owned = self._changes = dict(handed) if handed is not None else {}
            self.header_changes = owned
        return owned

    def set_header(self, name: str, value: str) -> None:
        self._own_changes()[name.lower()] = value
        self._headers = None

    def remove_header(self, name: str) -> None:
        self._own_changes()[name.lower()] = None
        self._headers = None

    def change_headers(self, changes: Mapping[str, str | None]) -> None:
        """Set and remove headers at once. The first changes of a request are kept as handed,
        not copied (a cached verdict's are the same for many requests): ``changes`` must not
        change afterwards."""
        if self.header_changes is None:
            self.header_changes = changes
        else:
            self._own_changes().update(changes)
        self._headers = None

    def set_query_param(self, name: str, values: tuple[str, ...]) -> None:
        self._change_query(name, tuple(values))

    def remove_query_param(self, name: str) -> None:
        self._change_query(name, None)

    def _change_query(self, name: str, values: tuple[str, ...] | None) -> None:
        if self.query_changes is None:
            self.query_changes = {}
        self.query_changes.pop(name, None)  # a changed parameter moves to the end
        self.query_changes[name] = values
        self._query = None
        self._query_text = None

    def set_body(self, body: bytes) -> None:
        if self.body is None:
            raise RuntimeError("set_body() needs a buffered body (buffer_request_body)")
        self.body = bytes(body)
        self.body_changed = True

    def set_upstream_path(self, path: str) -> None:
        """Send the request to the upstream with ``path`` (percent-encoded, from ``/``): it
        replaces the route's ``strip_path`` or ``rewrite`` result; routing is not redone."""
        self.head.upstream_path = path

    def add_context(self, key: str, value: str) -> None:
        """Record a plugin's context value."""
        owned = self._plugin_context
        if owned is None:
            handed = self.plugin_context
            owned = self._plugin_context = dict(handed) if handed is not None else {}
            self.plugin_context = owned
        owned[key] = value
        if self._context is not None:
            self._context[key] = value

    def add_contexts(self, values: Mapping[str, str]) -> None:
        """Record a plugin's context values. The first ones of a request are kept as handed
        (like :meth:`change_headers`): ``values`` must not change afterwards."""
        if not values:
            return
        if self.plugin_context is None:
            self.plugin_context = values
            if self._context is not None:
                self._context.update(values)
        else:
            for key, value in values.items():
                self.add_context(key, value)

    def plugin_failed(self, failure: str) -> None:
        """Note that a plugin failed open (``"plugin: reason"``)."""
        if self.plugin_failures is None:
            self.plugin_failures = []
        self.plugin_failures.append(failure)

    def set_response_header(self, name: str, value: str) -> None:
        name = name.lower()
        self.set_response_line(name, header_line(name, value))

    def set_response_line(self, name: str, line: bytes) -> None:
        self.set_response_lines((name,), line)

    def set_response_lines(self, names: tuple[str, ...], lines: bytes) -> None:
        found, kept = self._set_names, self._set_lines
        if found is None or kept is None:
            # compiled, the comprehension is a native loop; dict.fromkeys() a generic call
            self._set_names = {name: 0 for name in names}  # noqa: C420
            self._set_lines = [lines]
        else:
            index = len(kept)
            for name in names:
                self._unset(found, kept, name)
                found[name] = index
            kept.append(lines)
        if self._added is not None:
            for name in names:
                self._unadd(name)

    @staticmethod
    def _unset(names: dict[str, int], lines: list[bytes], name: str) -> None:
        """Take ``name``'s line out of its entry (set again: the new one goes to the end)."""
        index = names.pop(name, None)
        if index is not None:
            prefix = name.encode("latin-1") + b":"
            lines[index] = b"".join([line + b"\r\n" for line in lines[index].split(b"\r\n")
                                     if line and not line.lower().startswith(prefix)])  # fmt: skip

    def _unadd(self, name: str) -> None:
        """Drop the headers called ``name`` that policies added (a set one replaces them)."""
        added = self._added
        if added is not None and any(pair[0] == name for pair in added):
            added[:] = [pair for pair in added if pair[0] != name]

    def add_response_header(self, name: str, value: str) -> None:
        name = name.lower()
        if self._added is None:
            self._added = []
        self._added.append((name, header_line(name, value)))

    def at_end(self, callback: Callable[[], None]) -> None:
        if self.ended is None:
            self.ended = []
        self.ended.append(callback)

    # -- what the proxy does with it --------------------------------------------------------

    @property
    def answering(self) -> bool:
        """Whether policies gave the client's answer headers (:meth:`response_lines`)."""
        return self._set_names is not None or self._added is not None

    @property
    def replaced(self) -> Collection[str]:
        """Names of the response headers policies set (they replace the answer's own)."""
        return self._set_names or ()

    def response_lines(self) -> bytes:
        """The policies' response headers as ``name: value\\r\\n`` lines."""
        lines: list[bytes] = []
        self.add_response_lines(lines)
        return b"".join(lines)

    def add_response_lines(self, lines: list[bytes]) -> None:
        """Append the policies' response header lines to ``lines`` (a head being built)."""
        found, added = self._set_lines, self._added
        if found is not None:
            lines += found
        if added is not None:
            lines.extend([line for _, line in added])

    def apply(self) -> None:
        """Put the header and query changes on the head, as forwarding reads them."""
        head = self.head
        changes = self.header_changes
        if changes:
            pieces = head.forwarded
            count = len(pieces)
            for index in range(0, count, 4):  # name, ": ", value, CRLF
                if lower_name(pieces[index]) in changes:  # replaced or removed: its lines go
                    kept = pieces[:index]
                    for at in range(index + 4, count, 4):
                        if lower_name(pieces[at]) not in changes:
                            kept += pieces[at : at + 4]
                    pieces = kept
                    break
            lines = _SHARED.of_mapping(changes)
            if lines:
                pieces.append(lines)  # the head's own list, or the filtered copy
            head.forwarded = pieces
            head.header_changes = changes
        if self.query_changes is not None:
            head.changed(query=self.query)

    def finish(self) -> None:
        """The exchange is over: stop its task, run the ``at_end`` callbacks (newest first)."""
        task = self.task
        if task is not None:
            self.task = None
            if task is not asyncio.current_task():
                task.cancel()
        ended = self.ended
        if ended is None:
            return
        self.ended = None
        while ended:
            callback = ended.pop()
            try:
                callback()
            except Exception as exc:  # a policy bug must not stop the others or the edge
                log.error("at_end callback failed", route=self.route_id, error=repr(exc),
                          exc_info=exc)  # fmt: skip

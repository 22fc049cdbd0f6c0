"""Plugin steps on a real exchange: the proxy's side of out-of-process plugins.

A policy entry naming a plugin becomes a :class:`PluginStep`, a policy handler made by
:func:`plugin_hook` when a config version is prepared, from what the plugin declared in
``Describe``. So plugins run in the chain at their place (the ``plugins`` phase, in the order
written), like the built-ins:

- **request**: the whole request view goes out in one message (:meth:`PluginStep.message`);
  the verdict either answers (the plugin's response, plus the policies' response headers) or
  its changes are applied: headers, query, the upstream path, the body, and context values.
  Context values are kept for later plugins and the access log (``context``) and are sent
  upstream as ``<prefix><key>`` headers (``context_header_prefix``, default
  ``x-edgeway-context-``); headers with that prefix that the client sent are removed first,
  so a client cannot forge them;
- **response** (when the plugin implements it): status, headers and, when declared, the
  buffered body; a fail-closed failure replaces the upstream's answer with the 503;
- **log**: an ``OnLog`` entry is queued when the exchange ends; requests never wait for it.

A plugin that fails (timeout, down, open breaker, a verdict the edge cannot apply) follows its
endpoint's mode: ``closed`` answers 503 ``plugin_unavailable``, ``open`` goes on and the failure
is written to the access log (``plugin_failures``) and to ``OnLog`` entries. Adjacent plugins of
one phase whose endpoints say ``concurrent: true`` are called at the same time
(:class:`PluginGroup`); their changes apply in chain order and the first answer in chain order
wins.

Bodies: a plugin that wants the request body gets up to its declared ``max_bytes`` (with
``body_truncated`` when cut); the edge buffers the whole body (up to the route's limit) to
forward it. A response body larger than the declared size streams through, and the plugin
gets no body and ``body_truncated``. What a plugin declared is read when a version is prepared
(the edge describes its plugins first); a plugin that could not be described then is called in
every phase, without bodies, until the next version.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Final, cast

from edgeway.edge.compile.policies import PLUGIN_PRIORITY
from edgeway.edge.plugins import (
    EndpointClient,
    PluginClients,
    PluginInstance,
    RequestChanges,
    RequestOutcome,
)
from edgeway.edge.plugins.guards import KeyBuilder
from edgeway.edge.plugins.wire import (
    add_encoded_pair,
    add_field,
    add_pair,
    add_string,
    varint,
)
from edgeway.edge.policies._auth import rememberable, same_secret
from edgeway.edge.policies.base import (
    Exchange,
    LocalResponse,
    Outcome,
    Phase,
    PolicyHandler,
    Response,
)
from edgeway.edge.proxy.errors import PluginUnavailable
from edgeway.edge.proxy.local import ErrorAnswer
from edgeway.edge.proxy.request import lower_name
from edgeway.edge.proxy.respond import ReplaceResponse, UpstreamResponse
from edgeway.v1 import plugin_pb2

if TYPE_CHECKING:
    from edgeway.edge.compile.model import CompiledRoute, PolicyStep
    from edgeway.edge.proxy.view import PolicyView

__all__ = ["PluginGroup", "PluginSite", "PluginStep", "plugin_hook"]

_REQUEST: Final = plugin_pb2.PHASE_REQUEST
_RESPONSE: Final = plugin_pb2.PHASE_RESPONSE
_LOG: Final = plugin_pb2.PHASE_LOG
_BODYLESS: Final = frozenset({204, 304})
_UNDECLARED_BODY: Final = "it replaced the {} body without declaring access to it"


@dataclass(frozen=True)
class PluginSite:
    """What the plugin steps of one prepared version share."""

    clients: PluginClients
    stage: str
    version: int
    variables: Mapping[str, str]


def plugin_hook(site: PluginSite, route: CompiledRoute) -> Callable[[PolicyStep], PolicyHandler]:
    """The ``plugin_hook`` of :func:`~edgeway.edge.policies.chain.prepare_chain` for
    ``route``."""
    max_body = route.max_body_bytes

    def hook(step: PolicyStep) -> PolicyHandler:
        client = site.clients.endpoints.get(step.plugin or "")
        if client is None:
            raise ValueError(f"plugin {step.plugin!r} of {step.source} has no client")
        described = client.description
        responds = described is None or _RESPONSE in described.phases
        kind = PluginResponseStep if responds else PluginStep
        return kind(step, client, site, max_body)

    return hook


class PluginStep(PolicyHandler):
    """One policy entry calling a plugin (request phase, log phase); see the module docstring."""

    NAME = "plugin"
    VERSION = "1"
    PHASE = Phase.PLUGINS
    PRIORITY = PLUGIN_PRIORITY

    def __init__(self, step: PolicyStep, client: EndpointClient, site: PluginSite,
                 max_body: int) -> None:  # fmt: skip
        super().__init__(step.config)
        self.instance = PluginInstance.of_step(step)
        self.name = self.instance.plugin
        self.slot = "plugin-verdict:" + self.name
        """This plugin's entry in a connection's memo (:meth:`ask_by_header`)."""
        self.client = client
        self.site = site
        self.concurrent = client.settings.concurrent
        self.prefix = client.settings.context_header_prefix
        self.fail_open = client.fail_open
        fields: list[bytes] = []
        add_string(fields, b"\x6a", site.stage)
        for name, value in site.variables.items():
            add_pair(fields, b"\x72", name, value)
        if site.version:
            fields.append(b"\x80\x01")  # field 16's key takes two bytes
            fields.append(varint(site.version))
        self.site_fields = b"".join(fields)
        """The request view's fields that are the same for every request: stage, stage
        variables, config version."""
        described = client.description
        self.calls = described is None or _REQUEST in described.phases
        self.logs = described is None or _LOG in described.phases
        self.request_body = self.response_body = 0
        if described is not None and described.request_body.wanted:
            self.request_body = described.request_body.max_bytes
            self.buffer_request_body = max_body  # forwarded whole, sent cut to the plugin
        if described is not None and described.response_body.wanted:
            self.response_body = self.buffer_response_body = described.response_body.max_bytes

    # -- the request phase --------------------------------------------------------------------

    def on_request(self, exchange: Exchange) -> Outcome | Awaitable[Outcome]:
        view = cast("PolicyView", exchange)
        self.enter(view)
        return self.ask(view) if self.calls else None

    def ask(self, view: PolicyView) -> Outcome | Awaitable[Outcome]:
        """The verdict: at once from the verdict cache, else by calling the plugin."""
        keys = self.client.keys
        if keys is not None and keys.single is not None:
            return self.ask_by_header(view, keys, keys.single)
        key = self.cache_key(view)
        hit = self.client.cached(key)
        if hit is not None:
            return self.settle(view, hit)  # no message, no await
        return self.call(view, key)

    def ask_by_header(self, view: PolicyView, keys: KeyBuilder, name: str
                      ) -> Outcome | Awaitable[Outcome]:  # fmt: skip
        """:meth:`ask` for a verdict keyed by one header (an authorizer's token). The client
        connection remembers its last verdict: the next request on it with the same value
        (compared in constant time) gets that verdict while the cache would still serve it,
        without the cache's lookup (its key's hashing and comparing)."""
        value = view.header(name)
        memo = view.connection_memo
        last = memo.get(self.slot)
        if (value is not None and isinstance(last, _Recalled) and last.step is self
                and same_secret(last.value, value)
                and self.client.recalled(last.until, last.generation)):  # fmt: skip
            return self.settle(view, last.verdict)
        key = keys.of_value(self.instance.key, value)
        generation = self.client.generation
        found = self.client.cached_entry(key)
        if found is None:
            return self.call(view, key)
        if value is not None and rememberable(value):
            memo[self.slot] = _Recalled(self, value, found[0], generation, found[1])
        return self.settle(view, found[1])

    def cache_key(self, view: PolicyView) -> Hashable | None:
        """``view``'s verdict-cache key (``None``: verdicts are not cached)."""
        keys = self.client.keys
        if keys is None:
            return None
        if keys.plain:  # headers only: the usual key, an authorizer's token
            return keys.of_headers(self.instance.key, view)
        consumer = view.consumer
        # a key without query parameters makes no closure per request
        query = partial(_query_params, view) if keys.query else _no_query
        return keys.of_parts(self.instance.key, view.header, query,
                             consumer.name if consumer is not None else "", view.route_id,
                             view.client_ip)  # fmt: skip

    def enter(self, view: PolicyView) -> None:
        """Before any call: drop forged context headers, arrange the ``OnLog`` entry."""
        prefix = self.prefix
        if prefix:
            forged: list[str] | None = None
            size = len(prefix)
            for name, _ in view.head.raw:  # no header mapping built: most requests have none
                if len(name) < size:  # most names are shorter than the prefix
                    continue
                lower = lower_name(name)
                if lower.startswith(prefix):
                    if forged is None:
                        forged = []
                    forged.append(lower)
            if forged is not None:
                changes = view.header_changes
                for lower in forged:
                    if changes is None or lower not in changes:
                        view.remove_header(lower)
        if self.logs:
            view.keep_head = True
            view.at_end(partial(self._log, view))

    async def call(self, view: PolicyView, key: Hashable | None = None) -> Outcome:
        outcome = await self.client.ask(self.instance, self.wire(view), view.request_id,
                                        _trace(view), key)  # fmt: skip
        return self.settle(view, outcome)

    def settle(self, view: PolicyView, outcome: RequestOutcome) -> Outcome:
        """Act on a call's outcome: ``None`` to go on, or the answer."""
        if outcome.failure is not None:
            return self.failed(view, outcome.failure)
        if outcome.response is not None:
            answer = outcome.response
            return LocalResponse(answer.status, tuple((h.name, h.value) for h in answer.headers),
                                 answer.body)  # fmt: skip
        if outcome.changes is not None:
            problem = self.apply(view, outcome.changes)
            if problem is not None:
                return self.failed(view, problem)
        return None

    def failed(self, view: PolicyView, reason: str) -> Outcome:
        if self.fail_open:
            view.plugin_failed(f"{self.name}: {reason}")
            return None
        return ErrorAnswer.of(PluginUnavailable(f"plugin {self.name!r} failed: {reason}"))

    def apply(self, view: PolicyView, changes: RequestChanges) -> str | None:
        """Put a verdict's changes on the request (all or, with a problem, none of them)."""
        if changes.body is not None and view.body is None:
            return _UNDECLARED_BODY.format("request")
        if changes.headers:
            view.change_headers(changes.headers)
        for name, values in changes.set_query:
            view.set_query_param(name, values)
        for name in changes.remove_query:
            view.remove_query_param(name)
        if changes.path is not None:
            view.set_upstream_path(changes.path)
        if changes.body is not None:
            view.set_body(changes.body)
        view.add_contexts(changes.context)
        return None

    def message(self, view: PolicyView, body: bool = True) -> plugin_pb2.HttpRequest:
        """The whole request as the plugin sees it (with the body when declared)."""
        return plugin_pb2.HttpRequest.FromString(self.wire(view, body))

    def wire(self, view: PolicyView, body: bool = True) -> bytes:
        """:meth:`message`, encoded (``HttpRequest``; see ``edgeway.edge.plugins.wire``)."""
        head = view.head
        out: list[bytes] = []
        add_string(out, b"\x0a", view.request_id)
        add_string(out, b"\x12", view.method)
        add_string(out, b"\x1a", head.upstream_path or view.path)
        if view.query:
            for name, values in view.query_params.items():
                for value in values:
                    add_pair(out, b"\x22", name, value)
        if view.header_changes is not None or not _add_received_headers(out, head.raw):
            for name, value in view.headers.items():
                add_pair(out, b"\x2a", name, value)
        add_string(out, b"\x32", view.client_ip)
        out.append(b"\x3a\x04http")
        add_string(out, b"\x42", view.route_id)
        for name, value in view.params.items():
            add_pair(out, b"\x4a", name, value)
        consumer = view.consumer
        if consumer is not None:
            about: list[bytes] = []
            add_string(about, b"\x0a", consumer.name)
            for group in sorted(consumer.groups):
                add_field(about, b"\x12", group.encode())
            for name, value in consumer.tags.items():
                add_pair(about, b"\x1a", name, value)
            add_field(out, b"\x52", b"".join(about))
        limit = self.request_body
        if body and limit and view.body:
            add_field(out, b"\x5a", view.body[:limit])
            if len(view.body) > limit:
                out.append(b"\x60\x01")
        out.append(self.site_fields)
        found = view.context_values()
        if found:
            for key, value in found.items():
                if isinstance(value, str):
                    add_pair(out, b"\x7a", key, value)
                elif isinstance(value, bool | int | float):
                    add_pair(out, b"\x7a", key, json.dumps(value))
        return b"".join(out)

    # -- the log phase ------------------------------------------------------------------------

    def _log(self, view: PolicyView) -> None:
        finished = view.finished
        if finished is None:
            return
        entry = plugin_pb2.LogEntry(
            request=self.message(view, body=False), status=finished.status,
            bytes_sent=finished.bytes_sent, latency_ms=finished.latency_ms,
            upstream_latency_ms=finished.upstream_ms or 0.0, trace_id=finished.trace_id,
            plugin_failures=view.plugin_failures or (),
        )  # fmt: skip
        if view.sent_head:
            for line in view.sent_head.split(b"\r\n")[1:]:
                name, sep, value = line.partition(b":")
                if sep:
                    entry.response_headers.add(name=name.decode("latin-1").lower(),
                                               value=value.strip().decode("latin-1"))
        self.client.log(self.instance, entry)

    # -- joining ------------------------------------------------------------------------------

    def join(self, following: PolicyHandler) -> PolicyHandler | None:
        if not (self.concurrent and isinstance(following, PluginStep) and following.concurrent):
            return None
        return PluginGroup.of([self, following])


class PluginResponseStep(PluginStep):
    """A plugin step that also runs in the response phase."""

    RESPONSE_PHASE = Phase.PLUGINS_RESPONSE

    def on_response(self, exchange: Exchange, response: Response) -> Awaitable[None] | None:
        if not self.client.wants(_RESPONSE):
            return None
        return self.respond(cast("PolicyView", exchange), cast(UpstreamResponse, response))

    async def respond(self, view: PolicyView, response: UpstreamResponse) -> None:
        body = response.body
        cut = (body is None and self.response_body > 0 and view.method != "HEAD"
               and response.status not in _BODYLESS)  # fmt: skip
        call = plugin_pb2.ResponseCall(request=self.message(view, body=False),
                                       status=response.status, body=body or b"",
                                       body_truncated=cut)  # fmt: skip
        headers = call.headers
        for name, value in response.items:
            headers.add(name=name, value=value)
        outcome = await self.client.on_response(self.instance, call, _trace(view))
        reason = outcome.failure
        verdict = outcome.verdict
        if reason is None and verdict is not None:
            if verdict.HasField("body") and body is None:
                reason = _UNDECLARED_BODY.format("response")
            else:
                if verdict.HasField("status"):
                    response.set_status(verdict.status)
                for name in verdict.remove_headers:
                    response.remove_header(name)
                for header in verdict.set_headers:
                    response.set_header(header.name, header.value)
                if verdict.HasField("body"):
                    response.set_body(verdict.body)
        if reason is not None:
            answer = self.failed(view, reason)
            if answer is not None:
                raise ReplaceResponse(answer, f"plugin {self.name!r} failed: {reason}")


class PluginGroup(PolicyHandler):
    """Adjacent concurrent plugin steps: their request calls go out at once."""

    NAME = "plugins"
    VERSION = "1"
    PHASE = Phase.PLUGINS
    PRIORITY = PLUGIN_PRIORITY

    def __init__(self, members: Sequence[PluginStep]) -> None:
        super().__init__({})
        self.members = tuple(members)
        self.buffer_request_body = max(m.buffer_request_body for m in members)
        self.buffer_response_body = max(m.buffer_response_body for m in members)

    @staticmethod
    def of(members: Sequence[PluginStep]) -> PluginGroup:
        responds = any(isinstance(m, PluginResponseStep) for m in members)
        return (PluginResponseGroup if responds else PluginGroup)(members)

    def join(self, following: PolicyHandler) -> PolicyHandler | None:
        if not (isinstance(following, PluginStep) and following.concurrent):
            return None
        return PluginGroup.of([*self.members, following])

    def on_request(self, exchange: Exchange) -> Outcome | Awaitable[Outcome]:
        view = cast("PolicyView", exchange)
        calling: list[PluginStep] = []
        for member in self.members:
            member.enter(view)
            if member.calls:
                calling.append(member)
        if len(calling) < 2:
            return calling[0].ask(view) if calling else None
        return self._call_all(view, calling)

    @staticmethod
    async def _call_all(view: PolicyView, calling: list[PluginStep]) -> Outcome:
        """Every member's verdict (cached ones at once, the others called together), then
        each acted on in chain order: all see the request as it was before the group."""
        trace = _trace(view)
        outcomes: list[RequestOutcome | None] = []
        misses: list[tuple[int, Awaitable[RequestOutcome]]] = []
        for index, m in enumerate(calling):
            key = m.cache_key(view)
            hit = m.client.cached(key)
            outcomes.append(hit)
            if hit is None:
                misses.append((index, m.client.on_request(m.instance, m.message(view), trace,
                                                          key)))  # fmt: skip
        called = await asyncio.gather(*(pending for _, pending in misses))
        for (index, _), answered in zip(misses, called, strict=True):
            outcomes[index] = answered
        for member, outcome in zip(calling, outcomes, strict=True):
            assert outcome is not None
            result = member.settle(view, outcome)
            if result is not None:
                return result
        return None


class PluginResponseGroup(PluginGroup):
    """A group with response hooks: they run one after the other, in chain order."""

    RESPONSE_PHASE = Phase.PLUGINS_RESPONSE

    async def _respond_all(self, view: PolicyView, response: UpstreamResponse) -> None:
        for member in self.members:
            if isinstance(member, PluginResponseStep) and member.client.wants(_RESPONSE):
                await member.respond(view, response)

    def on_response(self, exchange: Exchange, response: Response) -> Awaitable[None] | None:
        return self._respond_all(cast("PolicyView", exchange), cast(UpstreamResponse, response))


def _query_params(view: PolicyView) -> Mapping[str, tuple[str, ...]]:
    return view.query_params


def _no_query() -> Mapping[str, tuple[str, ...]]:
    return {}


def _add_received_headers(parts: list[bytes], raw: list[tuple[bytes, bytes]]) -> bool:
    """Add the request's headers as received to a request message's pieces, straight from
    their bytes (names lower-cased, values as UTF-8): what :attr:`PolicyView.headers` would
    give, without building it and without decoding. ``False`` (and nothing added) when a name
    repeats: those are sent joined, from the mapping."""
    start = len(parts)
    seen: set[bytes] = set()
    for name, value in raw:
        key = name.lower()
        if key in seen:
            del parts[start:]
            return False
        seen.add(key)
        add_encoded_pair(parts, b"\x2a", key,
                         value if value.isascii() else value.decode("latin-1").encode())
    return True


class _Recalled:
    """A connection's last verdict of a plugin ``step`` keyed by one header: its ``value``,
    and the cache entry's expiry and generation."""

    def __init__(self, step: PluginStep, value: str, until: float, generation: int,
                 verdict: RequestOutcome) -> None:  # fmt: skip
        self.step = step
        self.value = value
        self.until = until
        self.generation = generation
        self.verdict = verdict


def _trace(view: PolicyView) -> Mapping[str, str]:
    trace = view.trace
    return {"traceparent": trace.parent()} if trace is not None else {}

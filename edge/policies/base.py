"""The contract between built-in policies and the data path: phases, views, hooks, answers.

A built-in policy is a subpackage of :mod:`edgeway.edge.policies` whose ``__init__`` exposes

- ``HANDLER``: a :class:`PolicyHandler` subclass declaring ``NAME``, ``VERSION``, ``PHASE`` and
  ``PRIORITY``, with one method per hook it implements;
- ``SCHEMA``: the JSON Schema (draft 2020-12) of its config, every field described, typed,
  defaulted and bounded, ``additionalProperties: false``;
- ``CHECKS`` (optional): cross-field rules, functions taking the config as written and yielding
  ``(field, message)`` pairs (``field`` may be a path: ``allow[2]``, ``query.page.pattern``);
  they run only when the schema accepts the config;
- ``REFERENCES`` (optional): rules about names the config refers to, functions taking the
  config as written and the gateway config's :class:`ConfigNames` (its consumers), yielding
  ``(field, message)`` pairs like ``CHECKS`` and run after them (an ``anonymous`` consumer
  that does not exist is refused at apply time, not found out at the first request).

Life of a handler (what the proxy does, see also :mod:`.chain`):

1. **Build** (compile step, pure, also run by the control plane): ``HANDLER(config)`` with the
   defaults filled in and made read-only (:func:`freeze`). Everything that depends only on the
   config (regexes, schemas, templates, pre-rendered answers) is done here.
2. **Bind** (edge only, once per config version, before it serves; no I/O, no blocking):
   :meth:`PolicyHandler.bind` receives the compiled config (consumers, credentials, usage plans)
   and the edge's :class:`~edgeway.edge.policies.services.Services` (the shared Redis client,
   an HTTP session, state that outlives config versions, owned background tasks).
3. **Serve**: :meth:`PolicyHandler.on_request` for each request, in phase order, with an
   :class:`Exchange`; after the upstream answered, :meth:`PolicyHandler.on_response` with the
   exchange and a :class:`Response`.

Sync fast path: a hook returns its result directly when it needs no I/O. A hook that needs I/O
(Redis, a JWKS fetch, a PBKDF2 check in a thread) returns an awaitable, typically by being
``async def`` or by returning a coroutine only on its slow path. The proxy calls every hook
directly and awaits only a result that is neither ``None`` nor a :class:`LocalResponse`.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

if TYPE_CHECKING:
    from edgeway.edge.compile.model import CompiledConfig, CompiledConsumer, CompiledCredential
    from edgeway.edge.policies.services import Services

__all__ = [
    "Check",
    "ConfigNames",
    "Exchange",
    "LocalResponse",
    "Outcome",
    "Phase",
    "PolicyHandler",
    "Reference",
    "Request",
    "Response",
    "change_one_by_one",
    "freeze",
]


class Phase(enum.StrEnum):
    """When a policy runs. Request phases run in this order, then the upstream call, then the
    response phases in this order; within a phase a higher ``PRIORITY`` runs first."""

    IP_RESTRICTION = "ip-restriction"
    CORS = "cors"
    AUTHENTICATION = "authentication"
    AUTHORIZATION = "authorization"
    RATE_LIMIT = "rate-limit"
    VALIDATION = "validation"
    CACHE = "cache"
    REQUEST_TRANSFORM = "request-transform"
    PLUGINS = "plugins"
    RESPONSE_TRANSFORM = "response-transform"
    PLUGINS_RESPONSE = "plugins-response"
    CACHE_STORE = "cache-store"
    LOG = "log"

    @property
    def rank(self) -> int:
        """Position in the fixed order (0 runs first)."""
        return _RANK[self]

    @property
    def on_response(self) -> bool:
        """Whether the phase runs after the upstream answered."""
        return self.rank >= _RANK[Phase.RESPONSE_TRANSFORM]


_RANK: dict[Phase, int] = {phase: index for index, phase in enumerate(Phase)}


@dataclass(frozen=True, slots=True, weakref_slot=True)
class LocalResponse:
    """A response the edge answers itself: status, lower-case header pairs and the body bytes.

    Handlers return either one object built once per config version (a 401, a 429, a fixed
    answer) or a new one per request (a 400 listing violations, a cached response). The headers
    the exchange collected (:meth:`Exchange.set_response_header`) are added to it. Objects
    are weak-referenceable: the proxy keeps each one's rendering only while it lives.
    """

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


class Request(Protocol):
    """What a handler may read of a request. Header names are lower case.

    Reads reflect the writes earlier policies made through :class:`Exchange` (a header set by a
    request-transform is seen by a later plugin).
    """

    @property
    def method(self) -> str:
        """Upper case (``GET``)."""

    @property
    def path(self) -> str:
        """The normalized path, percent-encoded as received, without the query."""

    @property
    def query(self) -> str:
        """The raw query string, without ``?`` (empty when none)."""

    @property
    def query_params(self) -> Mapping[str, tuple[str, ...]]:
        """Query parameters decoded (``+`` and ``%XX``), every value in order; lazily built."""

    @property
    def host(self) -> str:
        """The ``Host`` normalized: lower case, without the port."""

    @property
    def headers(self) -> Mapping[str, str]:
        """Headers by lower-case name; repeated headers joined with ``,``."""

    def header(self, name: str) -> str | None:
        """Header ``name`` (lower case) as :attr:`headers` has it: a policy reading one or two
        headers asks for them by name, which spares building the mapping."""

    def header_values(self, name: str) -> tuple[str, ...]:
        """Every value of header ``name`` (lower case) in order, each as received."""

    @property
    def client_ip(self) -> str:
        """The TCP peer's address (never derived from ``X-Forwarded-For``)."""

    @property
    def route_id(self) -> str: ...

    @property
    def params(self) -> Mapping[str, str]:
        """The route's path parameters (``/users/{id}`` gives ``id``)."""

    @property
    def request_id(self) -> str: ...

    @property
    def body(self) -> bytes | None:
        """The whole request body, when a policy of the route asked for it with
        :attr:`PolicyHandler.buffer_request_body` (``b""`` without a body); else ``None``."""

    @property
    def consumer(self) -> CompiledConsumer | None:
        """The caller, once an authentication policy identified one."""

    @property
    def credential(self) -> CompiledCredential | None:
        """The credential the caller authenticated with (``None`` for token issuers)."""

    @property
    def verified(self) -> bool:
        """Whether an authentication policy verified a credential of this request (a caller
        that is an anonymous fallback is not verified)."""

    @property
    def connection_memo(self) -> MutableMapping[object, Any]:
        """Scratch space that lives as long as the client's connection: the requests of one
        keep-alive connection share it, no other connection sees it. A policy keeps what it
        may reuse for the next request there under a key of its own, a bounded amount (key-auth:
        the last key verified, so a keep-alive client is not hashed again)."""

    @property
    def context(self) -> MutableMapping[str, Any]:
        """Per-request scratch space shared by the policies of one exchange (``jwt.claims``,
        ``cache.key``, ...); keys are prefixed with the policy's name."""


class Exchange(Request, Protocol):
    """A request in flight: the :class:`Request` view plus what a handler may change.

    Upstream request changes apply in call order when the request is forwarded. Response
    headers apply to whatever answers the client: the upstream response, a cached one, or a
    :class:`LocalResponse` of any policy (so CORS and rate-limit headers reach a 401 too).
    """

    def authenticate(
        self,
        consumer: CompiledConsumer | None,
        credential: CompiledCredential | None = None,
        verified: bool = True,
    ) -> None:
        """Mark the request authenticated as ``consumer`` (``None``: a valid token that names no
        configured consumer); ``verified``: ``False`` for an anonymous fallback. The proxy logs
        the consumer and, after the authentication phase, also runs the consumer's own
        policies."""

    def set_header(self, name: str, value: str) -> None:
        """Set upstream request header ``name`` (lower case), replacing every value."""

    def remove_header(self, name: str) -> None:
        """Remove upstream request header ``name`` (lower case)."""

    def change_headers(self, changes: Mapping[str, str | None]) -> None:
        """Set (a value) or remove (``None``) several upstream request headers at once (lower
        case names): ``set_header`` and ``remove_header`` in one call
        (:func:`change_one_by_one` is that, for an exchange without a batch of its own)."""

    def set_query_param(self, name: str, values: tuple[str, ...]) -> None:
        """Replace query parameter ``name`` with ``values`` (decoded; the proxy encodes)."""

    def remove_query_param(self, name: str) -> None: ...

    def set_body(self, body: bytes) -> None:
        """Replace the request body sent upstream (the proxy fixes ``content-length``). Only
        for routes that buffered the body."""

    def set_response_header(self, name: str, value: str) -> None:
        """Set header ``name`` on the response the client gets, replacing any same-named one."""

    def set_response_line(self, name: str, line: bytes) -> None:
        """:meth:`set_response_header` with the header already rendered: ``line`` is exactly
        ``name: value\\r\\n`` in Latin-1, its value free of CR, LF and NUL (the caller's
        guarantee: for lines built once, or from numbers)."""

    def set_response_lines(self, names: tuple[str, ...], lines: bytes) -> None:
        """Several :meth:`set_response_line` at once: ``lines`` holds one line for each of
        ``names`` (lower case), in that order, with the same guarantees."""

    def add_response_header(self, name: str, value: str) -> None:
        """Add a header value to the response the client gets (keeps existing ones)."""

    def at_end(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once when the exchange is over: answered, failed or abandoned by
        the client. Callbacks run in reverse order of registration and must not raise."""


class Response(Protocol):
    """The upstream's response as the response-phase hooks see and change it."""

    @property
    def status(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]:
        """By lower-case name; repeated headers joined with ``,``."""

    def header_items(self) -> list[tuple[str, str]]:
        """Every header as ``(lower-case name, value)`` in order (``set-cookie`` kept apart)."""

    @property
    def body(self) -> bytes | None:
        """The whole body when a policy asked for it with
        :attr:`PolicyHandler.buffer_response_body` and it fit; ``None`` while streaming."""

    def set_header(self, name: str, value: str) -> None: ...

    def remove_header(self, name: str) -> None: ...

    def set_body(self, body: bytes) -> None:
        """Replace a buffered body (the proxy fixes ``content-length``)."""


Outcome = LocalResponse | None
"""What a request hook decides: ``None`` goes on, a :class:`LocalResponse` answers."""


def change_one_by_one(exchange: Exchange, changes: Mapping[str, str | None]) -> None:
    """:meth:`Exchange.change_headers` as ``set_header`` and ``remove_header`` calls, in order."""
    for name, value in changes.items():
        if value is None:
            exchange.remove_header(name)
        else:
            exchange.set_header(name, value)


def freeze(value: Any) -> Any:
    """A read-only deep copy of JSON data: mappings become read-only, lists become tuples."""
    if isinstance(value, Mapping):
        return MappingProxyType({key: freeze(item) for key, item in value.items()})
    if isinstance(value, list | tuple):
        return tuple(freeze(item) for item in value)
    return value


Check = Callable[[Mapping[str, Any]], Iterable[tuple[str, str]]]
"""A cross-field rule: takes a config as written, yields ``(field, message)`` problems."""


@dataclass(frozen=True)
class ConfigNames:
    """The names a policy config may refer to in the gateway config being compiled."""

    consumers: frozenset[str] = frozenset()


Reference = Callable[[Mapping[str, Any], ConfigNames], Iterable[tuple[str, str]]]
"""A rule about names: takes a config as written and the gateway's :class:`ConfigNames`."""


class PolicyHandler:
    """Base class of built-in policy handlers: declarations, needs, and no-op hooks.

    ``RESPONSE_PHASE`` is when :meth:`on_response` runs (``None``: the handler has none); the
    cache looks up in the ``cache`` phase and stores in ``cache-store``.

    Per-instance needs, set in ``__init__`` from the config, read by the proxy once per version:

    - ``buffer_request_body``: read the request body (up to this many bytes) before this
      handler's ``on_request`` and expose it as :attr:`Request.body`; a larger body is answered
      413 ``payload_too_large``. 0: not needed.
    - ``buffer_response_body``: buffer the upstream body up to this many bytes for
      :meth:`on_response`; a larger one streams through with ``Response.body is None``.
    - ``body_limit``: the largest request body this policy admits (the proxy enforces the
      smallest of the route's limit and these while streaming, with 413). ``None``: no limit.
    """

    NAME: ClassVar[str]
    VERSION: ClassVar[str]
    PHASE: ClassVar[Phase]
    PRIORITY: ClassVar[int]
    RESPONSE_PHASE: ClassVar[Phase | None] = None

    buffer_request_body: int = 0
    buffer_response_body: int = 0
    body_limit: int | None = None

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.config = config

    def bind(self, config: CompiledConfig, services: Services) -> None:
        """Receive what the config version and the edge provide (see the module docstring).
        Called once per config version before it serves, possibly for several versions while
        an older one still drains; must not block or do I/O."""

    def on_request(self, exchange: Exchange) -> Outcome | Awaitable[Outcome]:
        """Decide about a request: ``None`` continues, a response answers it directly."""
        return None

    def on_response(self, exchange: Exchange, response: Response) -> Awaitable[None] | None:
        """Change or record the upstream's response (only when ``RESPONSE_PHASE`` is set)."""
        return None

    def join(self, following: PolicyHandler) -> PolicyHandler | None:
        """One handler doing this one's work and ``following``'s (the next in the chain, same
        phase) at the same time, or ``None`` (the default): they run one after the other.
        Plugins declared ``concurrent`` use it to call their services at once."""
        return None

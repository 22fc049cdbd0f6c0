"""The contract of a built-in policy: the phases, the handler base class, local responses.

A built-in policy is a subpackage of :mod:`edgeway.edge.policies` whose ``__init__`` exposes

- ``HANDLER``: a :class:`PolicyHandler` subclass declaring ``NAME``, ``VERSION``, ``PHASE`` and
  ``PRIORITY``, with one method per hook it implements;
- ``SCHEMA``: the JSON Schema (draft 2020-12) of its config, every field described, typed,
  defaulted and bounded, ``additionalProperties: false``;
- ``CHECKS`` (optional): cross-field rules, functions taking the config as written and yielding
  ``(field, message)`` pairs; they run only when the schema accepts the config.

Handlers are built once per config version by the compile step (``HANDLER(config)``, defaults
filled in, read-only: see :func:`freeze`), so anything that depends only on config is done in
``__init__``; the per-request hooks only decide.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, ClassVar, Protocol

__all__ = [
    "Check",
    "LocalResponse",
    "Phase",
    "PolicyHandler",
    "Request",
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


@dataclass(frozen=True, slots=True)
class LocalResponse:
    """A response the edge answers itself (mock routes, request-termination), rendered once
    per config version: status, lower-case header pairs and the body bytes."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


class Request(Protocol):
    """What a handler may read of a request (the proxy's request object provides it)."""

    @property
    def method(self) -> str: ...

    @property
    def path(self) -> str: ...

    @property
    def host(self) -> str: ...

    @property
    def headers(self) -> Mapping[str, str]: ...


def freeze(value: Any) -> Any:
    """A read-only deep copy of JSON data: mappings become read-only, lists become tuples."""
    if isinstance(value, Mapping):
        return MappingProxyType({key: freeze(item) for key, item in value.items()})
    if isinstance(value, list | tuple):
        return tuple(freeze(item) for item in value)
    return value


Check = Callable[[Mapping[str, Any]], Iterable[tuple[str, str]]]
"""A cross-field rule: takes a config as written, yields ``(field, message)`` problems."""


class PolicyHandler:
    """Base class of built-in policy handlers: declarations plus no-op hooks."""

    NAME: ClassVar[str]
    VERSION: ClassVar[str]
    PHASE: ClassVar[Phase]
    PRIORITY: ClassVar[int]

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.config = config

    def on_request(self, request: Request) -> LocalResponse | None:
        """Decide about a request: ``None`` continues, a response answers it directly."""
        return None

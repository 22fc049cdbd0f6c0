"""The compiled, immutable form of a config version: what the edge serves from.

Everything here is built once per version by :func:`edgeway.edge.compile.compile_config` and
never changes: frozen dataclasses, tuples, frozensets and read-only mappings. Nothing on the
request path parses config, compiles a regex or builds a schema.

Routes keep their match criteria in a shape a router can index: hosts split into exact names
and wildcard suffixes, methods as a set, and each template path as :class:`PathSegment` tuples
(literal or typed parameter; regex paths keep their compiled regex). ``PathPattern.match`` is
the reference matcher a router must agree with.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from edgeway.edge.policies.base import LocalResponse, Phase, PolicyHandler

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "ActiveHealthCheck",
    "CircuitBreakerSettings",
    "CompiledConfig",
    "CompiledConsumer",
    "CompiledCredential",
    "CompiledPlugin",
    "CompiledRoute",
    "CompiledTarget",
    "CompiledUsagePlan",
    "CredentialIndex",
    "CredentialMatch",
    "HostMatch",
    "PassiveHealthCheck",
    "PathPattern",
    "PathSegment",
    "PolicyStep",
    "RequestLimits",
    "RetrySettings",
    "RewriteTemplate",
    "RouteMatch",
    "TimeoutSettings",
    "UpstreamPool",
    "ValueMatch",
]

DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024
"""Largest request body by default: 10 MiB (AWS API Gateway's payload limit)."""

PathMatchKind = Literal["prefix", "exact", "regex"]
ParamKind = Literal["str", "int", "uuid", "path"]


# ------------------------------------------------------------------------------------------
# Routes


@dataclass(frozen=True, slots=True)
class PathSegment:
    """One ``/``-separated segment: ``literal`` text when ``param`` is ``None``, else a
    parameter of a kind (``path`` spans the rest of the path and is always last)."""

    literal: str = ""
    param: str | None = None
    kind: ParamKind = "str"

    def accepts(self, text: str) -> bool:
        """Whether one path segment ``text`` fits (``path`` parameters are the caller's)."""
        if self.param is None:
            return text == self.literal
        if self.kind == "int":
            return text.isascii() and text.isdigit()
        if self.kind == "uuid":
            return _UUID.fullmatch(text) is not None
        return text != ""


_UUID = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")


@dataclass(frozen=True, slots=True)
class PathPattern:
    """A route path as written and parsed: template segments, or a compiled regex.

    ``prefix`` matches the path and everything below it on a segment boundary (``/users``
    matches ``/users``, ``/users/`` and ``/users/7``, not ``/usersx``; with a trailing slash,
    ``/users/`` matches only below it); ``exact`` matches the path alone; ``regex`` full-matches.
    """

    source: str
    match_kind: PathMatchKind
    segments: tuple[PathSegment, ...]
    """Empty for ``regex`` paths; a trailing empty literal stands for a trailing ``/``."""
    params: tuple[str, ...]
    regex: re.Pattern[str] | None = None
    """Only for ``regex`` paths."""

    def match(self, path: str) -> dict[str, str] | None:
        """The path parameters when ``path`` matches, else ``None``."""
        if self.regex is not None:
            found = self.regex.fullmatch(path)
            return None if found is None else found.groupdict()
        if not path.startswith("/"):
            return None
        parts = path[1:].split("/")
        prefix = self.match_kind == "prefix"
        last = len(self.segments) - 1
        params: dict[str, str] = {}
        for index, segment in enumerate(self.segments):
            if segment.kind == "path" and segment.param is not None:
                rest = "/".join(parts[index:])
                if not rest:
                    return None
                params[segment.param] = rest
                return params
            if prefix and index == last and segment.param is None and not segment.literal:
                return params if index < len(parts) else None  # "/users/": anything below
            if index >= len(parts) or not segment.accepts(parts[index]):
                return None
            if segment.param is not None:
                params[segment.param] = parts[index]
        return params if prefix or len(parts) == len(self.segments) else None


@dataclass(frozen=True, slots=True)
class HostMatch:
    """Host names of a route, lower case: exact names and ``*.`` wildcard suffixes
    (``.example.com``). Both empty: any host."""

    exact: frozenset[str] = frozenset()
    suffixes: tuple[str, ...] = ()

    def matches(self, host: str) -> bool:
        """Whether ``host`` (lower case, without port) is one of the route's hosts."""
        if not self.exact and not self.suffixes:
            return True
        return host in self.exact or any(host.endswith(s) for s in self.suffixes)


@dataclass(frozen=True, slots=True)
class ValueMatch:
    """A header or query-parameter condition: one of ``values``, or ``regex``, or absent.
    Header names are lower case; query names as written."""

    name: str
    values: frozenset[str] = frozenset()
    regex: re.Pattern[str] | None = None
    absent: bool = False

    def matches(self, value: str | None) -> bool:
        """Whether a request whose header/parameter is ``value`` (None: missing) matches."""
        if self.absent:
            return value is None
        if value is None:
            return False
        if self.regex is not None:
            return self.regex.fullmatch(value) is not None
        return value in self.values


@dataclass(frozen=True, slots=True)
class RouteMatch:
    """What a request must look like to match a route."""

    priority: int
    hosts: HostMatch
    methods: frozenset[str]
    """Upper case; empty matches any method."""
    paths: tuple[PathPattern, ...]
    headers: tuple[ValueMatch, ...]
    query: tuple[ValueMatch, ...]


@dataclass(frozen=True, slots=True)
class RewriteTemplate:
    """``rewrite_path`` split into literal text and parameter names (``None`` for literals)."""

    source: str
    parts: tuple[tuple[str, str | None], ...]

    def render(self, params: Mapping[str, str]) -> str:
        return "".join(params[name] if name else text for text, name in self.parts)


@dataclass(frozen=True, slots=True)
class PolicyStep:
    """One policy instance in a chain: a built-in (``handler``) or a plugin call (``plugin``).

    ``config`` is the config as validated (defaults filled in for built-ins), read-only.
    ``source`` is the path of the instance in the config, for logs and errors.
    """

    name: str
    phase: Phase
    priority: int
    source: str
    config: Mapping[str, Any]
    handler: PolicyHandler | None = None
    plugin: str | None = None


@dataclass(frozen=True, slots=True)
class TimeoutSettings:
    """Effective upstream timeouts in milliseconds."""

    connect_ms: int
    first_byte_ms: int
    total_ms: int


@dataclass(frozen=True, slots=True)
class RetrySettings:
    """Effective retry settings: attempts after the first try, retry budget, and whether
    non-idempotent requests are retried when they never reached the target."""

    attempts: int
    budget_percent: int
    on_connect_failure: bool


@dataclass(frozen=True, slots=True)
class CompiledRoute:
    """A route ready to serve: match, action (``upstream`` pool or ``mock`` response), path
    handling, effective timeouts and retries, and its policy chain in phase order (global
    instances included; disabled ones left out)."""

    id: str
    index: int
    """Position in the config: the last tie-breaker between equally good matches."""
    match: RouteMatch
    upstream: UpstreamPool | None
    mock: LocalResponse | None
    strip_path: bool
    rewrite: RewriteTemplate | None
    preserve_host: bool
    timeouts: TimeoutSettings
    retries: RetrySettings
    policies: tuple[PolicyStep, ...]
    tags: Mapping[str, str]
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    """Largest request body this route takes (413 beyond)."""


@dataclass(frozen=True, slots=True)
class RequestLimits:
    """Limits checked before a request is routed (431, 414), and the default body limit."""

    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_header_bytes: int = 32 * 1024
    max_headers: int = 100
    max_url_bytes: int = 8 * 1024


# ------------------------------------------------------------------------------------------
# Upstreams


@dataclass(frozen=True, slots=True)
class CompiledTarget:
    address: str
    host: str
    port: int
    weight: int
    """Absent in the config means 1; 0 drains the target."""


@dataclass(frozen=True, slots=True)
class ActiveHealthCheck:
    path: str
    interval_ms: int
    timeout_ms: int
    healthy_threshold: int
    unhealthy_threshold: int
    healthy_statuses: frozenset[int]


@dataclass(frozen=True, slots=True)
class PassiveHealthCheck:
    max_failures: int
    ejection_ms: int


@dataclass(frozen=True, slots=True)
class CircuitBreakerSettings:
    failure_threshold: int
    open_ms: int


@dataclass(frozen=True, slots=True)
class UpstreamPool:
    """An upstream with its targets normalized and every setting defaulted."""

    name: str
    targets: tuple[CompiledTarget, ...]
    algorithm: str
    hash_source: str | None
    hash_name: str | None
    scheme: str
    active_health: ActiveHealthCheck | None
    passive_health: PassiveHealthCheck | None
    timeouts: TimeoutSettings
    retries: RetrySettings
    circuit_breaker: CircuitBreakerSettings | None
    keepalive_pool: int


# ------------------------------------------------------------------------------------------
# Consumers, usage plans, plugins


@dataclass(frozen=True, slots=True)
class CompiledCredential:
    """A credential of a consumer. ``key_hash`` is computed when the config still held the
    plaintext key; ``password_hash`` is empty when it still held the plaintext password (the
    control plane stores only normalized configs, see ``common.config.secrets``)."""

    consumer: str
    type: str
    id: str
    key_hash: str = ""
    username: str = ""
    password_hash: str = ""
    issuer: str = ""
    secret: str = ""
    public_key: str = ""
    algorithm: str = ""


@dataclass(frozen=True, slots=True)
class CompiledConsumer:
    name: str
    groups: frozenset[str]
    usage_plan: CompiledUsagePlan | None
    credentials: tuple[CompiledCredential, ...]
    policies: tuple[PolicyStep, ...]
    """Applied after authentication when this consumer is the caller, in phase order."""
    tags: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class CredentialMatch:
    """What a presented credential resolves to: the consumer, and the credential to verify
    against (password hash, JWT key, HMAC secret)."""

    consumer: CompiledConsumer
    credential: CompiledCredential


@dataclass(frozen=True, slots=True)
class CredentialIndex:
    """Credentials by what a request presents: key hash, basic-auth user, JWT issuer, HMAC
    key id."""

    by_key_hash: Mapping[str, CredentialMatch]
    by_key_digest: Mapping[bytes, CredentialMatch]
    """``by_key_hash`` by the raw SHA-256 digest (what the key-auth handler looks up)."""
    by_basic_username: Mapping[str, CredentialMatch]
    by_jwt_issuer: Mapping[str, CredentialMatch]
    by_hmac_username: Mapping[str, CredentialMatch]


@dataclass(frozen=True, slots=True)
class CompiledUsagePlan:
    name: str
    rate: float | None
    """Requests per second (token bucket), ``None`` when not throttled."""
    burst: int
    quota_limit: int | None
    quota_period: str | None
    routes: frozenset[str]
    """Route ids the plan covers; empty covers every route."""


@dataclass(frozen=True, slots=True)
class CompiledPlugin:
    name: str
    endpoints: tuple[tuple[str, int], ...]
    timeout_ms: int
    failure_mode: str
    cache_ttl_ms: int
    circuit_breaker: CircuitBreakerSettings | None
    context_header_prefix: str = "x-edgeway-context-"
    """Context values the plugin sets go upstream as headers with this prefix ("": none)."""
    concurrent: bool = False
    """Calls may run alongside adjacent concurrent plugins of the same phase."""


@dataclass(frozen=True, slots=True, eq=False)
class CompiledConfig:
    """A whole config version, compiled. Routes are in config order (``routes[i].index ==
    i``); ``routes_by_id`` and the other mappings are read-only."""

    routes: tuple[CompiledRoute, ...]
    routes_by_id: Mapping[str, CompiledRoute]
    upstreams: Mapping[str, UpstreamPool]
    consumers: Mapping[str, CompiledConsumer]
    credentials: CredentialIndex
    usage_plans: Mapping[str, CompiledUsagePlan]
    plugins: Mapping[str, CompiledPlugin]
    global_policies: tuple[PolicyStep, ...]
    limits: RequestLimits = RequestLimits()
    variables: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    """The stage variables in force (what plugins see as ``request.variables``)."""

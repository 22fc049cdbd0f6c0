"""Compile routes: match criteria, action (upstream or mock), path rewriting, policy chain."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from types import MappingProxyType

from edgeway.common.errors import join_path
from edgeway.edge.compile import rules
from edgeway.edge.compile.limits import route_body_limit
from edgeway.edge.compile.model import (
    DEFAULT_MAX_BODY_BYTES,
    CompiledRoute,
    HostMatch,
    PathMatchKind,
    PathPattern,
    PolicyStep,
    RewriteTemplate,
    RouteMatch,
    UpstreamPool,
    ValueMatch,
)
from edgeway.edge.compile.paths import parse_host, parse_path, parse_rewrite
from edgeway.edge.compile.policies import PolicyContext, chain, compile_policies, json_of
from edgeway.edge.compile.rules import Errors
from edgeway.edge.compile.upstreams import DEFAULT_RETRIES, DEFAULT_TIMEOUTS, retries, timeouts
from edgeway.edge.policies.base import LocalResponse
from edgeway.v1 import config_pb2

__all__ = ["compile_match", "compile_mock", "compile_routes"]

_PROXY_ONLY = ("strip_path", "rewrite_path", "preserve_host", "timeouts", "retries")


def _hosts(route: config_pb2.Route, path: str, errors: Errors) -> HostMatch:
    exact: set[str] = set()
    suffixes: list[str] = []
    for index, host in enumerate(route.hosts):
        host_path = join_path(join_path(path, "hosts"), index)
        try:
            name, wildcard = parse_host(host)
        except ValueError as exc:
            errors.add(host_path, str(exc))
            continue
        if name in exact or name in suffixes:
            errors.add(host_path, f"host {host!r} is listed twice")
        elif wildcard:
            suffixes.append(name)
        else:
            exact.add(name)
    return HostMatch(frozenset(exact), tuple(suffixes))


def _value_matches(
    matches: Sequence[config_pb2.HeaderMatch | config_pb2.QueryMatch],
    path: str,
    errors: Errors,
    *,
    header: bool,
) -> tuple[ValueMatch, ...]:
    result: list[ValueMatch] = []
    for index, match in enumerate(matches):
        m_path = join_path(path, index)
        name = match.name.lower() if header else match.name
        if not match.name:
            errors.add(join_path(m_path, "name"), "a name is required")
        elif header and not rules.TOKEN.fullmatch(match.name):
            errors.add(join_path(m_path, "name"), f"{match.name!r} is not a valid header name")
        given = [bool(match.values), bool(match.regex), match.absent]
        if sum(given) != 1:
            errors.add(m_path, "set exactly one of values, regex or absent")
        regex = None
        if match.regex:
            try:
                regex = re.compile(match.regex)
            except re.error as exc:
                errors.add(join_path(m_path, "regex"), f"is not a valid regular expression: {exc}")
        result.append(ValueMatch(name, frozenset(match.values), regex, match.absent))
    return tuple(result)


def _paths(route: config_pb2.Route, path: str, errors: Errors) -> tuple[PathPattern, ...]:
    kind = rules.one_of(
        route.path_match, rules.PATH_MATCHES, join_path(path, "path_match"), errors,
        default="prefix",
    )  # fmt: skip
    paths_path = join_path(path, "paths")
    if not route.paths:
        errors.add(paths_path, 'at least one path is required (use "/" to match every path)')
    # With an invalid path_match the paths are still checked, as prefix paths.
    match_kind: PathMatchKind = kind or "prefix"  # type: ignore[assignment]
    patterns: list[PathPattern] = []
    seen: set[str] = set()
    for index, text in enumerate(route.paths):
        try:
            pattern = parse_path(text, match_kind)
        except ValueError as exc:
            errors.add(join_path(paths_path, index), str(exc))
            continue
        if text in seen:
            errors.add(join_path(paths_path, index), f"path {text!r} is listed twice")
        seen.add(text)
        patterns.append(pattern)
    return tuple(patterns)


def compile_match(route: config_pb2.Route, path: str, errors: Errors) -> RouteMatch:
    """The match criteria of a route: hosts, paths, methods, header and query conditions."""
    methods: set[str] = set()
    for index, method in enumerate(route.methods):
        m_path = join_path(join_path(path, "methods"), index)
        if rules.one_of(method, rules.METHODS, m_path, errors) is None:
            continue
        if method in methods:
            errors.add(m_path, f"method {method} is listed twice")
        methods.add(method)
    return RouteMatch(
        priority=route.priority,
        hosts=_hosts(route, path, errors),
        methods=frozenset(methods),
        paths=_paths(route, path, errors),
        headers=_value_matches(route.headers, join_path(path, "headers"), errors, header=True),
        query=_value_matches(route.query, join_path(path, "query"), errors, header=False),
    )


def compile_mock(mock: config_pb2.MockResponse, path: str, errors: Errors) -> LocalResponse:
    """A mock response rendered once: status (unset: 200), headers, body bytes; a ``json``
    body is serialized compactly with keys sorted and content-type application/json."""
    status = mock.status or 200
    if not 100 <= status <= 599:
        errors.add(join_path(path, "status"), "must be an HTTP status between 100 and 599")
    headers: list[tuple[str, str]] = []
    for name in sorted(mock.headers):
        value = mock.headers[name]
        h_path = join_path(join_path(path, "headers"), name)
        if not rules.TOKEN.fullmatch(name):
            errors.add(h_path, f"{name!r} is not a valid header name")
        elif any((ord(c) < 0x20 and c != "\t") or ord(c) == 0x7F for c in value):
            errors.add(h_path, "a header value must not contain line breaks or control characters")
        headers.append((name.lower(), value))
    body = mock.body.encode("utf-8")
    if mock.HasField("json"):
        if mock.body:
            errors.add(path, "set either body or json, not both")
        body = json.dumps(
            json_of(mock.json), separators=(",", ":"), sort_keys=True, ensure_ascii=False
        ).encode("utf-8")
        if not any(name == "content-type" for name, _ in headers):
            headers.append(("content-type", "application/json"))
    return LocalResponse(status, tuple(headers), body)


def _rewrite(
    route: config_pb2.Route, path: str, patterns: Sequence[PathPattern], errors: Errors
) -> RewriteTemplate | None:
    if not route.rewrite_path:
        return None
    r_path = join_path(path, "rewrite_path")
    if route.strip_path:
        errors.add(r_path, "set either strip_path or rewrite_path, not both")
    try:
        template = parse_rewrite(route.rewrite_path)
    except ValueError as exc:
        errors.add(r_path, str(exc))
        return None
    for _, name in template.parts:
        lacking = [p.source for p in patterns if name and name not in p.params]
        if lacking:
            errors.add(r_path, f"parameter {{{name}}} is not in path {lacking[0]!r}")
    return template


def compile_routes(
    config: config_pb2.GatewayConfig,
    upstreams: Mapping[str, UpstreamPool],
    global_steps: Sequence[PolicyStep],
    context: PolicyContext,
    errors: Errors,
    *,
    body_limit: int = DEFAULT_MAX_BODY_BYTES,
) -> list[tuple[int, RouteMatch, CompiledRoute | None]]:
    """Every route's match (for the conflict check) and, when it compiled, the route
    (``body_limit``: the global request body limit, which a route may override)."""
    first_index: dict[str, int] = {}
    known_upstreams = [u.name for u in config.upstreams if u.name]
    result: list[tuple[int, RouteMatch, CompiledRoute | None]] = []
    for index, route in enumerate(config.routes):
        path = join_path("routes", index)
        before = len(errors)
        problem = rules.name_problem(route.id, "route id", "routes", first_index,
                                     valid=rules.ROUTE_ID.fullmatch, rule=rules.ROUTE_ID_RULE)
        if problem:
            errors.add(join_path(path, "id"), problem)
        first_index.setdefault(route.id, index)
        match = compile_match(route, path, errors)
        pool = mock = None
        has_mock = route.HasField("mock")
        if route.upstream and has_mock:
            errors.add(path, "set either upstream or mock, not both")
        elif not route.upstream and not has_mock:
            errors.add(path, "needs an upstream to proxy to or a mock response")
        if route.upstream:
            pool = upstreams.get(route.upstream)
            if pool is None and route.upstream not in known_upstreams:
                message = rules.unknown("upstream", route.upstream, known_upstreams)
                errors.add(join_path(path, "upstream"), message)
        if has_mock:
            mock = compile_mock(route.mock, join_path(path, "mock"), errors)
            for name in _PROXY_ONLY:
                if _is_set(route, name):
                    errors.add(join_path(path, name), "has no effect on a mock route")
        rewrite = _rewrite(route, path, match.paths, errors)
        base_timeouts = pool.timeouts if pool else DEFAULT_TIMEOUTS
        base_retries = pool.retries if pool else DEFAULT_RETRIES
        route_timeouts = timeouts(
            route.timeouts, join_path(path, "timeouts"), base_timeouts, errors
        )
        route_retries = retries(route.retries, join_path(path, "retries"), base_retries, errors)
        steps = compile_policies(route.policies, join_path(path, "policies"), context, errors)
        max_body = route_body_limit(route.limits, join_path(path, "limits"), body_limit, errors)
        for key in route.tags:
            if not key.strip():
                errors.add(join_path(path, "tags"), "a tag name must not be empty")
        compiled = None
        if len(errors) == before and (pool is not None or mock is not None):
            compiled = CompiledRoute(
                id=route.id,
                index=index,
                match=match,
                upstream=pool,
                mock=mock,
                strip_path=route.strip_path,
                rewrite=rewrite,
                preserve_host=route.preserve_host,
                timeouts=route_timeouts,
                retries=route_retries,
                policies=chain(global_steps, steps),
                tags=MappingProxyType(dict(route.tags)),
                max_body_bytes=max_body,
            )
        result.append((index, match, compiled))
    return result


def _is_set(route: config_pb2.Route, name: str) -> bool:
    if name in ("timeouts", "retries"):
        return route.HasField(name)  # type: ignore[arg-type]
    return bool(getattr(route, name))

"""Route tables for router tests: compiled routes built directly (no config validation, so
tests can build any table), and a request stand-in for header and query conditions."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from types import MappingProxyType

from edgeway.edge.compile.model import (
    CompiledRoute,
    HostMatch,
    PathMatchKind,
    RouteMatch,
    ValueMatch,
)
from edgeway.edge.compile.paths import parse_path
from edgeway.edge.compile.upstreams import DEFAULT_RETRIES, DEFAULT_TIMEOUTS
from edgeway.edge.policies.base import LocalResponse
from edgeway.edge.routing import Router

UUID = "123e4567-e89b-12d3-a456-426614174000"


class Req:
    """Headers and query parameters for route conditions."""

    def __init__(self, headers: dict[str, str] | None = None,
                 query: dict[str, str] | None = None) -> None:
        self.headers = headers or {}
        self.query = query or {}

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    def query_param(self, name: str) -> str | None:
        return self.query.get(name)


def make_route(
    index: int,
    paths: Sequence[str],
    *,
    kind: PathMatchKind = "prefix",
    hosts: Iterable[str] = (),
    methods: Iterable[str] = (),
    priority: int = 0,
    headers: Iterable[ValueMatch] = (),
    query: Iterable[ValueMatch] = (),
    strip: bool = False,
    route_id: str | None = None,
) -> CompiledRoute:
    hosts = list(hosts)
    match = RouteMatch(
        priority=priority,
        hosts=HostMatch(frozenset(h for h in hosts if not h.startswith("*.")),
                        tuple(h[1:] for h in hosts if h.startswith("*."))),
        methods=frozenset(methods),
        paths=tuple(parse_path(p, kind) for p in paths),
        headers=tuple(headers),
        query=tuple(query),
    )
    return CompiledRoute(
        id=route_id or f"r{index}", index=index, match=match, upstream=None,
        mock=LocalResponse(200, (), b""), strip_path=strip, rewrite=None, preserve_host=False,
        timeouts=DEFAULT_TIMEOUTS, retries=DEFAULT_RETRIES, policies=(),
        tags=MappingProxyType({}),
    )  # fmt: skip


def picked(router: Router, path: str, *, host: str = "any.test", method: str = "GET",
           request: Req | None = None) -> str | None:
    hit = router.match(host, method, path, request or Req())
    return None if hit is None else hit.route.id

"""The router of one config version: host buckets of segment tries, ranks decided at compile.

Each route path is entered once per host the route names, in the bucket of that host: exact
host names in a dict, ``*.`` wildcards in a dict by suffix, routes without hosts in the "any"
bucket. Every (route, host, path) entry gets an integer rank when the router is built, from this
key, compared in order (the documented, deterministic tie-break):

1. ``priority``, higher first;
2. host: an exact host, then a wildcard (a longer suffix first), then routes without hosts;
3. path: template/prefix/exact paths before regex paths; then more segments (a ``{name:path}``
   parameter counts as one; a trailing ``/`` does not); then more literal segments; then more
   typed parameters (``int``, ``uuid``) than ``str`` ones; then a prefix path ending in ``/``
   over the same path without it; then ``exact`` over ``prefix``;
4. more header and query conditions first;
5. a route that lists methods before one that matches any method (a route with a ``cors``
   policy also matches ``OPTIONS``: :func:`~.trie.served_methods`);
6. config order: the route written first wins, and within a route its first path.

A lookup (host and path already normalized by the caller) looks in the request host's exact
bucket, its wildcard buckets (longest suffix first) and the any-host bucket, skipping a bucket
whose best rank cannot beat the match found so far; in a bucket it walks the trie (cost set by
the path, not by the number of routes; subtrees that cannot beat the best are skipped) and tries
the regex paths in rank order while they can still win (one ``fullmatch`` each: a fallback to
use sparingly). The highest-ranked entry whose method and header/query conditions match is
the answer.

Hot paths skip all of that: an answer that depended only on the host, method and path (no
header or query condition was asked on the way) is kept in a small per-router cache keyed by
them (at most ``CACHE_SIZE`` entries, emptied when full; paths longer than ``CACHE_PATH`` are
not kept). A cached :class:`RouteHit` is shared by the requests that get it: read it, do not
change it. A new config version has a new router, so the cache never outlives its routes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Final, NamedTuple

from edgeway.edge.compile.model import CompiledConfig, CompiledRoute, PathPattern, RouteMatch
from edgeway.edge.routing.trie import Condition, ConditionSource, Entry, Node, Search, insert

__all__ = ["CACHE_PATH", "CACHE_SIZE", "RouteHit", "Router", "compile_router"]

CACHE_SIZE: Final = 4096
CACHE_PATH: Final = 256
_UNKNOWN: Final = object()

_TYPED: Final = frozenset({"int", "uuid"})
_Key = tuple[object, ...]


class RouteHit(NamedTuple):
    """A matched route, its path parameters, and what follows the matched path.

    ``remainder`` is the rest of the path after the segments the route's path matched
    (``/7/orders`` for ``/users`` on ``/users/7/orders``), ``""`` when nothing follows; it is
    only computed for routes that strip or rewrite the path (``""`` for the others).
    """

    route: CompiledRoute
    params: dict[str, str]
    remainder: str


class _Table:
    """The routes of one host bucket: a trie of template paths and a list of regex paths."""


    def __init__(self) -> None:
        self.root = Node()
        self.trie = False
        self.regex: Sequence[Entry] = ()
        self.max_rank = -1

    def add(self, entry: Entry) -> None:
        if entry.pattern.regex is not None:
            self.regex = [*self.regex, entry]
        else:
            insert(self.root, entry)
            self.trie = True
        self.max_rank = max(self.max_rank, entry.rank)

    def freeze(self) -> None:
        self.root.freeze()
        self.regex = tuple(sorted(self.regex, key=lambda e: -e.rank))


def path_rank(pattern: PathPattern) -> tuple[int, ...]:
    """How specific a path is (larger is more specific); step 3 of the module's order."""
    if pattern.regex is not None:
        return (0,)
    segments = pattern.segments
    trailing = bool(segments) and segments[-1].param is None and segments[-1].literal == ""
    counted = segments[:-1] if trailing else segments
    literals = sum(1 for s in counted if s.param is None)
    typed = sum(1 for s in counted if s.param is not None and s.kind in _TYPED)
    exact = pattern.match_kind == "exact"
    return (1, len(counted), literals, typed, int(trailing), int(exact))


def _conditions(match: RouteMatch) -> Condition | None:
    headers, query = match.headers, match.query
    if not headers and not query:
        return None

    def check(request: ConditionSource) -> bool:
        return all(c.matches(request.header(c.name)) for c in headers) and all(
            c.matches(request.query_param(c.name)) for c in query
        )

    return check


def _buckets(match: RouteMatch) -> list[tuple[str, str, tuple[int, int]]]:
    """(kind, name, host rank) of every bucket a route goes in."""
    buckets = [("exact", host, (2, 0)) for host in sorted(match.hosts.exact)]
    buckets += [("wildcard", suffix, (1, len(suffix))) for suffix in match.hosts.suffixes]
    return buckets or [("any", "", (0, 0))]


class Router:
    """Its routes never change once built (only the answer cache fills); :meth:`match` is
    called on the event loop, by any number of requests."""


    def __init__(self, routes: Iterable[CompiledRoute], *, cache_size: int = CACHE_SIZE) -> None:
        self.routes: tuple[CompiledRoute, ...] = tuple(routes)
        ranked: list[tuple[_Key, str, str, CompiledRoute, PathPattern, Condition | None]] = []
        for route in self.routes:
            match = route.match
            conditions = _conditions(match)
            specific = (len(match.headers) + len(match.query), int(bool(match.methods)))
            for kind, name, host_rank in _buckets(match):
                for index, pattern in enumerate(match.paths):
                    key = (
                        match.priority, host_rank, path_rank(pattern), *specific,
                        -route.index, -index, kind, name,
                    )  # fmt: skip
                    ranked.append((key, kind, name, route, pattern, conditions))
        ranked.sort(key=lambda item: item[0])
        exact: dict[str, _Table] = {}
        wildcards: dict[str, _Table] = {}
        any_host: _Table | None = None
        for rank, (_, kind, name, route, pattern, conditions) in enumerate(ranked):
            if kind == "any":
                any_host = any_host or _Table()
                table = any_host
            else:
                tables = exact if kind == "exact" else wildcards
                table = tables.get(name) or tables.setdefault(name, _Table())
            table.add(Entry(route, pattern, rank, conditions))
        for table in [*exact.values(), *wildcards.values(), *([any_host] if any_host else [])]:
            table.freeze()
        self._exact: Mapping[str, _Table] = exact
        self._wildcards: Mapping[str, _Table] = wildcards
        self._any = any_host
        self._cache: dict[tuple[str, str, str], RouteHit | None] = {}
        self._cache_size = cache_size
        """0: no cache (every lookup walks the tries)."""

    def match(
        self, host: str, method: str, path: str, request: ConditionSource | None = None
    ) -> RouteHit | None:
        """The best route for a request, or ``None``.

        ``host`` and ``path`` must be normalized (:func:`normalize_host`, :func:`normalize_path`);
        ``method`` is upper case; ``request`` answers header and query conditions (a route with
        conditions never matches without it).
        """
        key = (host, method, path)
        cache = self._cache
        cached = cache.get(key, _UNKNOWN)
        if cached is not _UNKNOWN:
            return cached  # type: ignore[return-value]
        search = Search(method, request)
        hit = self._lookup(search, host, path)
        if not search.conditional and len(path) <= CACHE_PATH and self._cache_size:
            if len(cache) >= self._cache_size:
                cache.clear()
            cache[key] = hit
        return hit

    def _lookup(self, search: Search, host: str, path: str) -> RouteHit | None:
        if path.startswith("/"):
            search.parts = path[1:].split("/")
        table = self._exact.get(host)
        if table is not None:
            self._search(table, search, path)
        if self._wildcards:
            dot = host.find(".")
            while dot >= 0:
                table = self._wildcards.get(host[dot:])
                if table is not None and table.max_rank > search.rank:
                    self._search(table, search, path)
                dot = host.find(".", dot + 1)
        table = self._any
        if table is not None and table.max_rank > search.rank:
            self._search(table, search, path)
        entry = search.best
        if entry is None:
            return None
        if entry.pattern.regex is not None:
            params = {k: v for k, v in search.groups.items() if v is not None}
            return RouteHit(entry.route, params, "")
        params = dict(zip(entry.names, search.values, strict=True)) if entry.names else {}
        if entry.catchall is not None:
            params[entry.catchall] = search.rest
            return RouteHit(entry.route, params, "")
        remainder = ""
        if entry.rewrites:
            parts = search.parts
            if entry.depth < len(parts):
                remainder = "/" + "/".join(parts[entry.depth :])
        return RouteHit(entry.route, params, remainder)

    @staticmethod
    def _search(table: _Table, search: Search, path: str) -> None:
        """Offer one bucket's matching entries to ``search``."""
        if table.trie and search.parts:
            search.walk(table.root, 0, [])
        for entry in table.regex:
            if entry.rank <= search.rank:
                break
            if entry.methods and search.method not in entry.methods:
                continue
            regex = entry.pattern.regex
            found = regex.fullmatch(path) if regex is not None else None
            if found is None:
                continue
            if entry.conditions is not None:
                search.conditional = True
                if search.request is None or not entry.conditions(search.request):
                    continue
            search.best, search.rank, search.groups = entry, entry.rank, found.groupdict()
            return


def compile_router(compiled: CompiledConfig, *, cache_size: int = CACHE_SIZE) -> Router:
    """The router of a compiled config version (pure; safe to build off the event loop)."""
    return Router(compiled.routes, cache_size=cache_size)

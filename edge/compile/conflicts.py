"""Find routes that conflict with or are shadowed by another route.

A route's match expands into keys: one per (host, method, path) combination, where an empty
host or method list is its own "any" key and path parameter names do not count (``/u/{id}`` and
``/u/{uid}`` are the same path to a router). Two routes *conflict* when they have the same
priority, the same header and query conditions, and share a key: for that request the router
could pick either. A route is *shadowed* when a route of higher priority with the same
conditions has every one of its keys: it can never match. Both are errors.

Only identical keys count; a route for ``/users`` below a prefix route for ``/`` is fine (the
more specific path wins, as routers do).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from edgeway.common.errors import join_path
from edgeway.edge.compile.model import RouteMatch, ValueMatch
from edgeway.edge.compile.paths import conflict_key
from edgeway.edge.compile.rules import Errors

__all__ = ["find_conflicts"]

_Key = tuple[str, str, str]
_Conditions = tuple[tuple[tuple[str, tuple[str, ...], str, bool], ...], ...]


def _keys(match: RouteMatch) -> frozenset[_Key]:
    hosts = sorted(match.hosts.exact) + ["*" + s for s in match.hosts.suffixes] or [""]
    methods = sorted(match.methods) or [""]
    paths = [conflict_key(p) for p in match.paths]
    return frozenset((h, m, p) for h in hosts for m in methods for p in paths)


def _conditions(match: RouteMatch) -> _Conditions:
    def canon(items: Iterable[ValueMatch]) -> tuple[tuple[str, tuple[str, ...], str, bool], ...]:
        return tuple(
            sorted(
                (i.name, tuple(sorted(i.values)), i.regex.pattern if i.regex else "", i.absent)
                for i in items
            )
        )

    return canon(match.headers), canon(match.query)


def find_conflicts(routes: Sequence[tuple[int, str, RouteMatch]], errors: Errors) -> None:
    """Report conflicting and shadowed routes; ``routes`` are (index, id, match) triples."""
    owners: dict[tuple[int, _Conditions, _Key], int] = {}
    by_key: dict[tuple[_Conditions, _Key], list[int]] = {}
    info = {index: (route_id, match) for index, route_id, match in routes}
    keys = {index: _keys(match) for index, _, match in routes}
    for index, _, match in routes:
        conditions = _conditions(match)
        reported: set[int] = set()
        for key in sorted(keys[index]):
            slot = (match.priority, conditions, key)
            other = owners.setdefault(slot, index)
            if other != index and other not in reported:
                reported.add(other)
                errors.add(
                    join_path("routes", index),
                    f"conflicts with route {info[other][0]!r} (routes[{other}]): same host, "
                    "method and path at the same priority",
                )
            by_key.setdefault((conditions, key), []).append(index)
    for index, _, match in routes:
        conditions = _conditions(match)
        candidates: set[int] | None = None
        for key in keys[index]:
            higher = {i for i in by_key[(conditions, key)] if info[i][1].priority > match.priority}
            candidates = higher if candidates is None else candidates & higher
            if not candidates:
                break
        if candidates:
            other = min(candidates)
            errors.add(
                join_path("routes", index),
                f"never matches: route {info[other][0]!r} (routes[{other}]) has a higher "
                "priority and the same hosts, methods, paths and conditions",
            )

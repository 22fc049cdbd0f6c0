"""The segment trie of one host bucket: template and prefix paths indexed segment by segment.

A path template is a tuple of :class:`PathSegment` (literal, or a whole-segment parameter of a
kind), so a trie node has one child per literal segment text and one per parameter kind
(``str``, ``int``, ``uuid``); a ``{name:path}`` parameter and the ends of patterns are lists of
entries on the node where they apply. A lookup walks the request's segments once, following the
literal child and every parameter child whose kind accepts the segment: its cost depends on the
path and on how many parameter kinds branch at each level, not on the number of routes.

Where an entry sits and when it matches mirrors :meth:`PathPattern.match` exactly:

- ``exact``: the pattern's segments consumed the whole path;
- ``prefix``: the pattern's segments matched the start of the path (a segment boundary);
- ``slash``: a prefix pattern ending in ``/`` matched everything before its trailing empty
  segment and the path has at least one more segment;
- ``catchall``: a ``{name:path}`` parameter takes the non-empty rest of the path.

Entries on a node are sorted by rank, highest first; the :class:`Search` takes the best entry
whose method and header/query conditions hold, skipping any entry that cannot beat the best
found so far (see :mod:`edgeway.edge.routing.router` for how ranks are made).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final, Protocol

from edgeway.edge.compile.model import CompiledRoute, PathPattern, PathSegment

__all__ = ["ConditionSource", "Entry", "Node", "Search", "insert", "served_methods"]


def served_methods(route: CompiledRoute) -> frozenset[str]:
    """The methods a route matches: those it lists (empty: any), plus ``OPTIONS`` when it
    lists some without it and has a ``cors`` policy, so CORS preflights reach the policy (the
    proxy answers any other ``OPTIONS`` request to such a route 404, as before)."""
    methods = route.match.methods
    if methods and "OPTIONS" not in methods and any(s.name == "cors" for s in route.policies):
        return methods | {"OPTIONS"}
    return methods


class ConditionSource(Protocol):
    """What header and query conditions read of a request (only called when a route has
    conditions): the header value (names lower case; repeated headers joined with ``,``) and
    the first value of a query parameter, ``None`` when absent."""

    def header(self, name: str) -> str | None: ...

    def query_param(self, name: str) -> str | None: ...


Condition = Callable[[ConditionSource], bool]


class Entry:
    """One path of one route in one host bucket, with everything a lookup needs to decide."""

    __slots__ = (
        "catchall", "conditions", "depth", "methods", "names", "pattern", "rank", "rewrites",
        "route",
    )  # fmt: skip

    def __init__(
        self,
        route: CompiledRoute,
        pattern: PathPattern,
        rank: int,
        conditions: Condition | None,
    ) -> None:
        self.route = route
        self.pattern = pattern
        self.rank = rank
        self.methods = served_methods(route)
        self.conditions = conditions
        segments = pattern.segments
        last = segments[-1] if segments else None
        self.catchall = last.param if last is not None and last.kind == "path" else None
        self.names = tuple(
            s.param for s in segments if s.param is not None and s.kind != "path"
        )
        slash = pattern.match_kind == "prefix" and last is not None and last == _EMPTY
        self.depth = len(segments) - 1 if slash else len(segments)
        """Path segments the match consumed: what strip_path and rewrite_path replace."""
        self.rewrites = route.strip_path or route.rewrite is not None


_EMPTY: Final = PathSegment(literal="")


def _accepts_int(text: str) -> bool:
    return text.isascii() and text.isdigit()


_ACCEPTS: Final[dict[str, Callable[[str], bool]]] = {
    "str": bool,  # any non-empty segment
    "int": _accepts_int,
    "uuid": PathSegment(param="_", kind="uuid").accepts,
}
"""Per parameter kind, the same decision as ``PathSegment.accepts`` with less dispatch."""
_NO_ENTRIES: Final[tuple[Entry, ...]] = ()


class Node:
    """A trie node: children by literal segment and by parameter kind, entries that end here."""


    def __init__(self) -> None:
        self.literals: dict[str, Node] = {}
        self.params: tuple[tuple[str, Callable[[str], bool], Node], ...] = ()
        """One child per parameter kind: (kind, the kind's ``accepts``, child)."""
        self.exact: Sequence[Entry] = _NO_ENTRIES
        self.prefix: Sequence[Entry] = _NO_ENTRIES
        self.slash: Sequence[Entry] = _NO_ENTRIES
        self.catchall: Sequence[Entry] = _NO_ENTRIES
        self.top = -1
        """The highest rank in this subtree: a walk skips a subtree that cannot win."""

    def _param_child(self, kind: str) -> Node:
        for known, _, child in self.params:
            if known == kind:
                return child
        child = Node()
        self.params = (*self.params, (kind, _ACCEPTS[kind], child))
        return child

    def freeze(self) -> None:
        """Sort every entry list by rank, highest first, make it a tuple and compute ``top``
        (recursively)."""
        for name in ("exact", "prefix", "slash", "catchall"):
            entries = getattr(self, name)
            if entries:
                ordered = tuple(sorted(entries, key=lambda e: -e.rank))
                setattr(self, name, ordered)
                self.top = max(self.top, ordered[0].rank)
        for child in [*self.literals.values(), *(c for _, _, c in self.params)]:
            child.freeze()
            self.top = max(self.top, child.top)


def _append(node: Node, slot: str, entry: Entry) -> None:
    current = getattr(node, slot)
    setattr(node, slot, [*current, entry])


def insert(root: Node, entry: Entry) -> None:
    """Add a template/prefix/exact path entry below ``root`` (call ``root.freeze()`` after)."""
    pattern = entry.pattern
    segments = pattern.segments
    node = root
    last = len(segments) - 1
    for index, segment in enumerate(segments):
        if segment.kind == "path" and segment.param is not None:
            _append(node, "catchall", entry)
            return
        if pattern.match_kind == "prefix" and index == last and segment == _EMPTY:
            _append(node, "slash", entry)
            return
        if segment.param is None:
            child = node.literals.get(segment.literal)
            if child is None:
                child = node.literals[segment.literal] = Node()
            node = child
        else:
            node = node._param_child(segment.kind)
    _append(node, "exact" if pattern.match_kind == "exact" else "prefix", entry)


class Search:
    """The state of one lookup: the request's method and conditions, the best entry so far."""

    __slots__ = (
        "best", "conditional", "groups", "method", "parts", "rank", "request", "rest", "values",
    )  # fmt: skip

    def __init__(self, method: str, request: ConditionSource | None) -> None:
        self.method = method
        self.request = request
        self.conditional = False
        """Whether a header/query condition was asked: then the answer depends on more than
        the host, method and path (and must not be cached)."""
        self.best: Entry | None = None
        self.rank = -1
        self.values: tuple[str, ...] = ()
        self.rest = ""
        self.parts: list[str] = []
        self.groups: dict[str, str | None] = {}
        """The named groups of the best entry when it is a regex path."""

    def offer(self, entries: Sequence[Entry], values: list[str], rest: str) -> None:
        """Take the best of ``entries`` (sorted by rank) that beats the best so far."""
        for entry in entries:
            if entry.rank <= self.rank:
                return
            if entry.methods and self.method not in entry.methods:
                continue
            if entry.conditions is not None:
                self.conditional = True
                if self.request is None or not entry.conditions(self.request):
                    continue
            self.best, self.rank, self.values, self.rest = entry, entry.rank, tuple(values), rest
            return

    def walk(self, node: Node, depth: int, values: list[str]) -> None:
        """Offer every entry of the subtree of ``node`` that matches ``self.parts[depth:]``."""
        parts = self.parts
        if node.prefix:
            self.offer(node.prefix, values, "")
        if depth == len(parts):
            if node.exact:
                self.offer(node.exact, values, "")
            return
        if node.slash:
            self.offer(node.slash, values, "")
        if node.catchall:
            rest = "/".join(parts[depth:])
            if rest:
                self.offer(node.catchall, values, rest)
        segment = parts[depth]
        child = node.literals.get(segment)
        if child is not None and child.top > self.rank:
            self.walk(child, depth + 1, values)
        for _, accepts, param_child in node.params:
            if param_child.top > self.rank and accepts(segment):
                values.append(segment)
                self.walk(param_child, depth + 1, values)
                values.pop()

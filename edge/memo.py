"""Bounded memos for what the data path renders again and again (header lines, log fields).

A request often repeats what an earlier one made: the same consumer's headers, the same cached
plugin verdict's changes and context. :class:`Memo` keeps renderings by an equal key;
:class:`SharedMemo` keeps them by the very object they were made of, for immutable mappings
handed around unchanged (a cached verdict's), so a hit costs no hashing of their contents.
Both are emptied when they reach their limit: simple, and a working set that fits comes back
within a few requests.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from types import MappingProxyType
from typing import Any, Final, Generic, TypeVar

__all__ = ["Memo", "SharedMemo"]

_PROXY: Final = MappingProxyType  # compiled: a C static, not a module dict lookup

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Memo(Generic[K, V]):
    """Values by equal keys, at most ``limit`` of them (emptied when full)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._entries: dict[K, V] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: K) -> V | None:
        return self._entries.get(key)

    def clear(self) -> None:
        self._entries.clear()

    def put(self, key: K, value: V) -> V:
        """Remember ``value`` under ``key``; returns ``value``."""
        entries = self._entries
        if len(entries) >= self.limit:
            entries.clear()
        entries[key] = value
        return value


class SharedMemo(Generic[V]):
    """Values by the identity of the object they were made of, at most ``limit`` of them.
    The object is kept with its value (so its ``id`` is not reused while remembered); it must
    not change after it was first used as a key. The entry found or made last is checked
    first: a run of requests with the same verdict or consumer costs no lookup by ``id``."""

    def __init__(self, limit: int, make: Callable[[Mapping[Any, Any]], V]) -> None:
        self.limit = limit
        self.make = make
        """What :meth:`of_mapping` makes of a mapping."""
        self._entries: dict[int, tuple[object, V]] = {}
        self._last: tuple[object, V] | None = None

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        self._entries.clear()
        self._last = None

    def get(self, of: object) -> V | None:
        last = self._last
        if last is not None and last[0] is of:
            return last[1]
        found = self._entries.get(id(of))
        if found is not None and found[0] is of:
            self._last = found
            return found[1]
        return None

    def put(self, of: object, value: V) -> V:
        """Remember ``value`` for ``of``; returns ``value``."""
        entries = self._entries
        if len(entries) >= self.limit:
            entries.clear()
        entries[id(of)] = self._last = (of, value)
        return value

    def of_mapping(self, mapping: Mapping[Any, Any]) -> V:
        """``make(mapping)``, remembered for ``mapping`` when it is immutable (a
        ``MappingProxyType``: handed around unchanged); made afresh for any other mapping."""
        if type(mapping) is not _PROXY:
            return self.make(mapping)
        found = self.get(mapping)
        return found if found is not None else self.put(mapping, self.make(mapping))

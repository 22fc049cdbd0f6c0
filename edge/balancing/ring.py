"""Consistent hashing on a ketama-style ring: a request key always lands on the same target,
and adding a target moves only the keys the new target takes.

Each target puts ``POINTS_PER_WEIGHT * weight`` points on a 32-bit ring (``weight`` capped at
``MAX_WEIGHT``), four per MD5 digest of ``"<address>-<n>"``, as libketama does. A key (a
header, cookie, client ip, consumer or path parameter, see :mod:`.plan`) is hashed with MD5
too and served by the owner of the first point at or after it, going round; a target that is
down or already tried by the request is skipped, so its keys spread over the next points'
owners and come back when it recovers. Points depend only on a target's own address and
weight, so with ``n`` targets a new one takes about ``1/(n+1)`` of the keys, from every
other target alike, and no key moves between old targets. MD5 is used for spread, not
security; it is stable across processes (Python's ``hash`` is not), so every worker of an
edge, and every edge, agrees.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Callable, Sequence
from typing import Final

__all__ = ["MAX_WEIGHT", "POINTS_PER_WEIGHT", "HashRing", "key_hash"]

POINTS_PER_WEIGHT: Final = 160
MAX_WEIGHT: Final = 64
"""Weights above this count as this on the ring (bounds its size)."""


def key_hash(key: str) -> int:
    """The ring position of a request key."""
    return int.from_bytes(hashlib.md5(key.encode("utf-8", "surrogateescape")).digest()[:4],
                          "little")


class HashRing:
    """An immutable ring over targets (their addresses and weights)."""


    def __init__(self, addresses: Sequence[str], weights: Sequence[int]) -> None:
        points: list[tuple[int, int]] = []
        for index, (address, weight) in enumerate(zip(addresses, weights, strict=True)):
            for n in range(POINTS_PER_WEIGHT * min(weight, MAX_WEIGHT) // 4):
                digest = hashlib.md5(f"{address}-{n}".encode()).digest()
                for part in range(4):
                    value = int.from_bytes(digest[part * 4 : part * 4 + 4], "little")
                    points.append((value, index))
        if not points:
            raise ValueError("at least one weight must be above 0")
        points.sort()
        self._points = [value for value, _ in points]
        self._owners = [index for _, index in points]
        self.size = len({index for _, index in points})
        """How many targets own points."""

    def lookup(self, position: int, usable: Callable[[int], bool] | None = None) -> int:
        """The target serving ring ``position``: the owner of the first point at or after
        it whose target ``usable`` accepts; -1 when none does."""
        points, owners = self._points, self._owners
        start = bisect.bisect_left(points, position)
        count = len(points)
        if usable is None:
            return owners[start % count]
        seen = 0
        for step in range(count):
            owner = owners[(start + step) % count]
            if usable(owner):
                return owner
            seen |= 1 << owner
            if seen.bit_count() >= self.size:
                return -1
        return -1

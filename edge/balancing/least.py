"""Least connections: the target with the fewest requests in flight per unit of weight.

``active / weight`` is compared by cross-multiplying (no division). Ties go to the target
after the one picked last, so equal targets take turns instead of the first one taking every
burst. Counts are per edge process and shared by config versions (a target's
:class:`~.state.TargetState`), so requests still running on an earlier version count too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from edgeway.edge.balancing.state import TargetState

__all__ = ["LeastConnections"]


class LeastConnections:
    """Picks an index into the targets it was built with (weight 0: never)."""


    def __init__(self, weights: Sequence[int]) -> None:
        self._order = tuple(index for index, weight in enumerate(weights) if weight > 0)
        if not self._order:
            raise ValueError("at least one weight must be above 0")
        self._weights = tuple(weights)
        self._last = -1

    def pick_among(self, states: Sequence[TargetState], usable: Callable[[int], bool]) -> int:
        """The least loaded usable target (``states[i].active`` requests in flight); -1 when
        none is usable."""
        order, weights = self._order, self._weights
        count = len(order)
        start = self._last + 1
        best = -1
        best_active = best_weight = 0
        for step in range(count):
            index = order[(start + step) % count]
            if not usable(index):
                continue
            active, weight = states[index].active, weights[index]
            if best < 0 or active * best_weight < best_active * weight:
                best, best_active, best_weight = index, active, weight
        if best >= 0:
            self._last = order.index(best)
        return best

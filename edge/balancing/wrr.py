"""Smooth weighted round robin (nginx's): targets picked in proportion to their weights,
interleaved rather than in runs.

Each pick adds every candidate's weight to its running score, takes the candidate with the
highest score and subtracts the candidates' total weight from it. Over any ``sum(weights)``
consecutive picks each target is picked exactly ``weight`` times, and a heavy target's picks
are spread out (weights 5, 1, 1 give ``a a b a c a a``). A weight of 0 drains a target: it is
never picked. Targets that are down or already tried by this request are left out of a pick
(:meth:`WeightedRoundRobin.pick_among`), so the others share their traffic by weight. State is
per config version; a new version starts the sequence afresh.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

__all__ = ["WeightedRoundRobin"]


class WeightedRoundRobin:
    """Picks an index into the weights it was built with."""


    def __init__(self, weights: Sequence[int]) -> None:
        live = [(index, weight) for index, weight in enumerate(weights) if weight > 0]
        if not live:
            raise ValueError("at least one weight must be above 0")
        self._indexes = tuple(index for index, _ in live)
        self._weights = tuple(weight for _, weight in live)
        self._scores = [0] * len(live)
        self._total = sum(self._weights)

    def pick(self) -> int:
        """The index of the next target (every target a candidate)."""
        indexes = self._indexes
        if len(indexes) == 1:
            return indexes[0]
        scores, weights = self._scores, self._weights
        best = 0
        for position in range(len(scores)):
            scores[position] += weights[position]
            if scores[position] > scores[best]:
                best = position
        scores[best] -= self._total
        return indexes[best]

    def pick_among(self, usable: Callable[[int], bool]) -> int:
        """The index of the next target among those ``usable(index)`` accepts; -1 if none."""
        scores, weights, indexes = self._scores, self._weights, self._indexes
        best = -1
        total = 0
        for position, index in enumerate(indexes):
            if not usable(index):
                continue
            weight = weights[position]
            scores[position] += weight
            total += weight
            if best < 0 or scores[position] > scores[best]:
                best = position
        if best < 0:
            return -1
        scores[best] -= total
        return indexes[best]

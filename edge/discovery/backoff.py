"""Jittered exponential backoff ("full jitter"): delay n is uniform in [0, min(cap, first*2^n)).

Full jitter spreads a fleet's reconnects after a control plane restarts, instead of having every
edge retry in lock step.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

__all__ = ["Backoff"]


@dataclass(slots=True)
class Backoff:
    first: float = 0.2
    cap: float = 10.0
    factor: float = 2.0
    attempt: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if not 0 < self.first <= self.cap or self.factor < 1:
            raise ValueError("backoff needs 0 < first <= cap and factor >= 1")

    def next(self) -> float:
        """The next delay in seconds (and count the attempt)."""
        ceiling = min(self.cap, self.first * self.factor ** min(self.attempt, 64))
        self.attempt += 1
        return random.uniform(0, ceiling)

    def reset(self) -> None:
        """Start over, e.g. after a connection that worked."""
        self.attempt = 0

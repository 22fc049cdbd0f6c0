"""The retry budget of an upstream: retries may add only a share of its recent requests.

Requests and retries are counted per second over a sliding window of ``WINDOW`` seconds. A
retry is allowed while the retries of the window stay within ``budget_percent`` of its
requests, plus a small floor (``MIN_RETRIES`` per window) so a quiet upstream can still retry
at all; a budget of 0 allows none. When every target fails, an upstream that takes ``R``
requests per second therefore sees at most about ``R * (1 + budget_percent / 100)`` attempts,
never ``R * (1 + attempts)``: retries cannot multiply an outage.
"""

from __future__ import annotations

from typing import Final

__all__ = ["MIN_RETRIES", "WINDOW", "RetryBudget"]

WINDOW: Final = 10
"""Seconds of history the budget looks at."""
MIN_RETRIES: Final = 3
"""Retries allowed per window whatever the traffic (unless the budget is 0)."""


class RetryBudget:
    """One upstream's counts; see the module docstring. ``now`` is the loop's clock."""


    def __init__(self) -> None:
        self._second = 0
        self._requests = [0] * WINDOW
        self._retries = [0] * WINDOW
        self.requests = 0
        """Requests counted in the window."""
        self.retries = 0
        """Retries counted in the window."""

    def _advance(self, second: int) -> int:
        last = self._second
        if second != last:
            steps = min(second - last, WINDOW) if second > last else WINDOW
            for step in range(1, steps + 1):
                slot = (last + step) % WINDOW
                self.requests -= self._requests[slot]
                self.retries -= self._retries[slot]
                self._requests[slot] = self._retries[slot] = 0
            self._second = second
        return second % WINDOW

    def request(self, now: float) -> None:
        """Count a request (its first attempt)."""
        slot = self._advance(int(now))
        self._requests[slot] += 1
        self.requests += 1

    def allow_retry(self, now: float, percent: int) -> bool:
        """Whether one more retry fits; counts it when it does."""
        if percent <= 0:
            return False
        slot = self._advance(int(now))
        if self.retries >= MIN_RETRIES and self.retries * 100 >= self.requests * percent:
            return False
        self._retries[slot] += 1
        self.retries += 1
        return True

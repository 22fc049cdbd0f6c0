"""The circuit breaker of an upstream: closed, open after N failures, one half-open probe.

- **closed**: requests pass; each failure (connect error, timeout, reset, invalid or 5xx
  response) adds to a count of consecutive failures, each success clears it; at
  ``failure_threshold`` the breaker opens;
- **open**: requests are answered 503 ``circuit_open`` at once, for ``open_ms``;
- **half-open**: after ``open_ms`` exactly one request goes through as a probe (the others are
  still refused); its success closes the breaker, its failure opens it again for ``open_ms``.
  A probe that ends without a verdict (the client left) lets the next request probe.

One breaker per upstream per edge process; a config swap that keeps the upstream and its
breaker settings keeps the breaker's state.
"""

from __future__ import annotations

import enum

from edgeway.edge.compile.model import CircuitBreakerSettings

__all__ = ["Breaker", "BreakerState"]


class BreakerState(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


class Breaker:
    """See the module docstring. Times are the event loop's clock, in seconds."""


    def __init__(self, settings: CircuitBreakerSettings) -> None:
        self.settings = settings
        self.threshold = settings.failure_threshold
        self.open_s = settings.open_ms / 1000
        self.state = BreakerState.CLOSED
        self.failures = 0
        self.opened_at = 0.0
        self.probing = False

    def allow(self, now: float) -> int:
        """0: refuse; 1: pass; 2: pass as the half-open probe (report its end)."""
        state = self.state
        if state is BreakerState.CLOSED:
            return 1
        if state is BreakerState.OPEN:
            if now - self.opened_at < self.open_s:
                return 0
            self.state = BreakerState.HALF_OPEN
            self.probing = False
        if self.probing:
            return 0
        self.probing = True
        return 2

    def succeeded(self) -> None:
        if self.state is not BreakerState.CLOSED:
            self.state = BreakerState.CLOSED
            self.probing = False
        self.failures = 0

    def failed(self, now: float) -> None:
        if self.state is BreakerState.CLOSED:
            self.failures += 1
            if self.failures < self.threshold:
                return
        self.state = BreakerState.OPEN
        self.opened_at = now
        self.failures = 0
        self.probing = False

    def abandoned(self) -> None:
        """The half-open probe ended without a verdict: the next request may probe."""
        self.probing = False

    def retry_after(self, now: float) -> float:
        """Seconds until an open breaker lets a probe through (0 when it would now)."""
        if self.state is not BreakerState.OPEN:
            return 0.0
        return max(0.0, self.opened_at + self.open_s - now)

"""Poll a condition with a deadline (tests wait for effects, never for fixed times)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(probe: Callable[[], T], *, timeout: float = 15.0, interval: float = 0.05,
               what: str = "condition") -> T:
    """Call ``probe`` until it returns something truthy; return that (raise on timeout)."""
    deadline = time.monotonic() + timeout
    last: T = probe()
    while not last:
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout}s (last: {last!r})")
        time.sleep(interval)
        last = probe()
    return last

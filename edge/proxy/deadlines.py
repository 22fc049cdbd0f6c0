"""Request timeouts on few loop timers: deadlines gathered in 10 ms slots.

A loop timer per request (``call_later`` and ``cancel``) costs about 2 µs, a tenth of the
proxy's whole budget for a request. :class:`Deadlines` puts each deadline in the slot of the
next 10 ms boundary at or after it; a slot holds one loop timer for every request due in it,
so a request only adds itself to a dict and removes itself when it ends. A timeout therefore
fires up to ``SLOT`` late (never early). The proxy cancels the remaining slot timers when it
stops.
"""

from __future__ import annotations

import asyncio
import math
from typing import Final, Protocol

import structlog

__all__ = ["SLOT", "Deadlines", "Timed"]

log = structlog.get_logger(__name__)

SLOT: Final = 0.01
"""Seconds per slot: the most a timeout fires late."""


class Timed(Protocol):
    def timed_out(self, kind: int) -> None:
        """Deadline ``kind`` (the caller's own numbering) passed."""


class Deadlines:
    """See the module docstring."""


    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._slots: dict[int, dict[Timed, int]] = {}
        self._handles: dict[int, asyncio.TimerHandle] = {}

    def add(self, delay: float, owner: Timed, kind: int) -> int:
        """Call ``owner.timed_out(kind)`` in ``delay`` seconds (at most ``SLOT`` later);
        return the slot to :meth:`cancel` with. An owner has one deadline per slot."""
        slot = math.ceil((self._loop.time() + max(delay, 0.0)) / SLOT)
        entries = self._slots.get(slot)
        if entries is None:
            entries = self._slots[slot] = {}
            self._handles[slot] = self._loop.call_at(slot * SLOT, self._fire, slot)
        entries[owner] = kind
        return slot

    def cancel(self, slot: int, owner: Timed) -> None:
        entries = self._slots.get(slot)
        if entries is not None:
            entries.pop(owner, None)

    def _fire(self, slot: int) -> None:
        self._handles.pop(slot, None)
        entries = self._slots.pop(slot, None)
        for owner, kind in (entries or {}).items():
            try:
                owner.timed_out(kind)
            except Exception as exc:  # one broken exchange must not keep others waiting
                log.error("timeout handling failed", error=repr(exc), exc_info=exc)

    def close(self) -> None:
        """Cancel every slot timer (the proxy is stopping)."""
        for handle in self._handles.values():
            handle.cancel()
        self._handles.clear()
        self._slots.clear()

    def __len__(self) -> int:
        return sum(len(entries) for entries in self._slots.values())

"""The live health of upstream targets: what active probes and passive checks decided.

A :class:`TargetState` belongs to one target of one upstream and outlives config versions: the
proxy hands the same state to every version that keeps the target (``upstream name`` plus
``scheme://host:port``), so a swap neither forgets an ejection nor resets a probe streak.

A target is *up* when the active checks find it healthy (or there are none) and no passive
ejection is running. An ejection ends by itself: the first pick after its cool-down lets the
target back in (``available``), without a timer. Each upstream has a :class:`HealthBoard` that
counts its targets that are down, so a pick while everything is up checks nothing.
"""

from __future__ import annotations

from typing import Final

from edgeway.edge.compile.model import ActiveHealthCheck, PassiveHealthCheck

__all__ = ["HealthBoard", "TargetState"]


class HealthBoard:
    """The targets of one upstream that are down, counted (``down == 0``: all up)."""


    def __init__(self, name: str) -> None:
        self.name = name
        self.down = 0


_DETACHED: Final = HealthBoard("(retired)")
"""The board of states no config version uses any more: their changes count nowhere."""


class TargetState:
    """One target's health and load; see the module docstring."""

    __slots__ = (
        "active", "address", "board", "ejected_until", "fails", "healthy", "probe_fails",
        "probe_oks", "up",
    )  # fmt: skip

    def __init__(self, address: str, board: HealthBoard) -> None:
        self.address = address
        self.board = board
        self.up = True
        self.healthy = True
        """What the active checks decided (True until they decide otherwise)."""
        self.ejected_until = 0.0
        """Loop time a passive ejection ends (0: not ejected)."""
        self.fails = 0
        """Consecutive failed requests (passive checks)."""
        self.probe_oks = 0
        self.probe_fails = 0
        self.active = 0
        """Requests in flight on this target (least-connections)."""

    def available(self, now: float) -> bool:
        """Whether the target may take a request now (ends an expired ejection)."""
        if self.up:
            return True
        if self.healthy and self.ejected_until and now >= self.ejected_until:
            self.ejected_until = 0.0
            self.fails = 0
            self._set_up(True)
            return True
        return False

    def _set_up(self, up: bool) -> None:
        if up != self.up:
            self.up = up
            self.board.down += -1 if up else 1

    def detach(self) -> None:
        """No config version uses this target any more: stop counting it."""
        if not self.up:
            self.board.down -= 1
        self.board = _DETACHED

    def attach(self, board: HealthBoard) -> None:
        """Count this state on ``board`` (a config version that uses the target)."""
        if board is self.board:
            return
        if self.board is not _DETACHED and not self.up:
            self.board.down -= 1
        self.board = board
        if not self.up:
            board.down += 1

    # -- passive checks -------------------------------------------------------------------

    def passed(self) -> None:
        """A request to this target succeeded."""
        self.fails = 0

    def failed(self, now: float, passive: PassiveHealthCheck) -> bool:
        """A request to this target failed; return whether this ejected it."""
        self.fails += 1
        if self.fails < passive.max_failures or self.ejected_until:
            return False
        self.fails = 0
        self.ejected_until = now + passive.ejection_ms / 1000
        self._set_up(False)
        return True

    # -- active checks --------------------------------------------------------------------

    def probed(self, ok: bool, check: ActiveHealthCheck) -> bool | None:
        """Record one probe; return the new verdict when it changed (else ``None``)."""
        if ok:
            self.probe_oks += 1
            self.probe_fails = 0
            if self.healthy or self.probe_oks < check.healthy_threshold:
                return None
            self.healthy = True
            self._set_up(not self.ejected_until)
            return True
        self.probe_fails += 1
        self.probe_oks = 0
        if not self.healthy or self.probe_fails < check.unhealthy_threshold:
            return None
        self.healthy = False
        self._set_up(False)
        return False

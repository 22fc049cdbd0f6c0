"""What outlives config versions in one edge process: target health, breakers, budgets,
probers.

:class:`LiveUpstreams` is owned by the proxy. When a version is installed,
:meth:`LiveUpstreams.bind` hands each of its upstreams the state kept for it: a target keeps
its :class:`~.state.TargetState` under the same upstream name and address, an upstream keeps
its retry budget, and its circuit breaker while the breaker settings stay the same. State that
no version uses any more is dropped. :meth:`LiveUpstreams.sync_probers` then keeps one prober
per upstream with active checks (:mod:`.probe`); a prober that is replaced is cancelled at once
and awaited by :meth:`LiveUpstreams.stop`, which cancels and awaits the rest.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterable

from edgeway.edge.balancing.breaker import Breaker
from edgeway.edge.balancing.budget import RetryBudget
from edgeway.edge.balancing.plan import UpstreamPlan
from edgeway.edge.balancing.probe import Prober
from edgeway.edge.balancing.state import HealthBoard, TargetState

__all__ = ["LiveUpstreams"]


class LiveUpstreams:
    """See the module docstring."""

    def __init__(self) -> None:
        self.boards: dict[str, HealthBoard] = {}
        self.states: dict[tuple[str, str], TargetState] = {}
        self.breakers: dict[str, Breaker] = {}
        self.budgets: dict[str, RetryBudget] = {}
        self.probers: dict[str, Prober] = {}
        self._stopping: set[asyncio.Task[None]] = set()

    def bind(self, upstreams: Iterable[UpstreamPlan]) -> None:
        """Give every upstream of the version being installed its long-lived state."""
        used: set[tuple[str, str]] = set()
        names: set[str] = set()
        for plan in upstreams:
            name = plan.name
            names.add(name)
            board = self.boards.get(name) or self.boards.setdefault(name, HealthBoard(name))
            states: list[TargetState] = []
            for target in plan.targets:
                key = (name, target.key)
                state = self.states.get(key)
                if state is None:
                    state = self.states[key] = TargetState(target.address, board)
                state.attach(board)
                states.append(state)
                used.add(key)
            plan.states, plan.board = tuple(states), board
            breaker = self.breakers.get(name)
            if plan.breaker_settings is None:
                self.breakers.pop(name, None)
                plan.breaker = None
            else:
                if breaker is None or breaker.settings != plan.breaker_settings:
                    breaker = self.breakers[name] = Breaker(plan.breaker_settings)
                plan.breaker = breaker
            plan.budget = self.budgets.get(name) or self.budgets.setdefault(name, RetryBudget())
        for key in [key for key in self.states if key not in used]:
            self.states.pop(key).detach()
        for table in (self.boards, self.breakers, self.budgets):
            for name in [name for name in table if name not in names]:
                del table[name]

    def sync_probers(self, upstreams: Iterable[UpstreamPlan],
                     tls: ssl.SSLContext | None) -> None:
        """One prober per upstream with active checks: unchanged ones keep running, the
        others are cancelled, new ones start (call on the loop, after :meth:`bind`; without
        a running loop nothing starts)."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return
        wanted: dict[str, Prober] = {}
        for plan in upstreams:
            check = plan.active_check
            if check is None:
                continue
            targets = [(t.host, t.port, t.address, state)
                       for t, state in zip(plan.targets, plan.states, strict=True)]
            wanted[plan.name] = Prober(plan.name, check, targets,
                                       tls if plan.scheme == "https" else None)
        for name, prober in list(self.probers.items()):
            fresh = wanted.get(name)
            if fresh is not None and fresh.identity == prober.identity and prober.task:
                del wanted[name]
                continue
            del self.probers[name]
            task = prober.cancel()
            if task is not None:
                self._stopping.add(task)
                task.add_done_callback(self._stopping.discard)
        for name, prober in wanted.items():
            self.probers[name] = prober
            prober.start()

    async def stop(self) -> None:
        """Cancel and await every prober."""
        probers = list(self.probers.values())
        self.probers.clear()
        tasks = [*self._stopping, *(t for t in (p.cancel() for p in probers) if t is not None)]
        self._stopping.clear()
        await asyncio.gather(*tasks, return_exceptions=True)

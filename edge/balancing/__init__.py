"""Upstream handling that outlives a request: balancing, health, breakers, retry budgets.

- :class:`UpstreamPlan`: an upstream of one config version and its target picker —
  weighted round robin (:mod:`.wrr`), least connections (:mod:`.least`) or consistent
  hashing on a ketama ring (:mod:`.ring`) (:mod:`.plan`);
- :class:`TargetState`: a target's health (active probes, passive ejection) and load
  (:mod:`.state`); :class:`Prober`: the active checks of an upstream (:mod:`.probe`);
- :class:`Breaker`: an upstream's circuit breaker (:mod:`.breaker`); :class:`RetryBudget`:
  its retry budget (:mod:`.budget`);
- :class:`LiveUpstreams`: what the proxy keeps across config versions (:mod:`.live`).
"""

from edgeway.edge.balancing.breaker import Breaker, BreakerState
from edgeway.edge.balancing.budget import RetryBudget
from edgeway.edge.balancing.least import LeastConnections
from edgeway.edge.balancing.live import LiveUpstreams
from edgeway.edge.balancing.plan import TargetPlan, UpstreamPlan
from edgeway.edge.balancing.probe import Prober
from edgeway.edge.balancing.ring import HashRing
from edgeway.edge.balancing.state import HealthBoard, TargetState
from edgeway.edge.balancing.wrr import WeightedRoundRobin

__all__ = [
    "Breaker",
    "BreakerState",
    "HashRing",
    "HealthBoard",
    "LeastConnections",
    "LiveUpstreams",
    "Prober",
    "RetryBudget",
    "TargetPlan",
    "TargetState",
    "UpstreamPlan",
    "WeightedRoundRobin",
]

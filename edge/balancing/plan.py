"""An upstream made ready to serve for one config version: targets, picker, and live state.

:class:`UpstreamPlan` is built from a compiled ``UpstreamPool`` without I/O (it may be built in
a thread with the rest of a version) and bound on the loop to what outlives versions (target
states, the circuit breaker, the retry budget: :mod:`.live`). :meth:`UpstreamPlan.pick`
chooses a target for an attempt:

- ``round-robin``: smooth weighted round robin (:mod:`.wrr`);
- ``least-connections``: fewest requests in flight per weight (:mod:`.least`);
- ``consistent-hash``: the ring position of the request's key (:mod:`.ring`): a header, a
  cookie, the client ip, the consumer or a path parameter; a request without the key is
  balanced by weighted round robin.

While every target is up and the request has tried none, a pick checks no state at all; else
targets that are down (:mod:`.state`) or were tried already are skipped. ``-1`` means no
target can take the request (the proxy answers 503 at once).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from mypy_extensions import mypyc_attr

from edgeway.edge.balancing.breaker import Breaker
from edgeway.edge.balancing.budget import RetryBudget
from edgeway.edge.balancing.least import LeastConnections
from edgeway.edge.balancing.ring import HashRing, key_hash
from edgeway.edge.balancing.state import HealthBoard, TargetState
from edgeway.edge.balancing.wrr import WeightedRoundRobin
from edgeway.edge.compile.model import CompiledConsumer, UpstreamPool

if TYPE_CHECKING:
    from edgeway.edge.proxy.upstream import TargetPool

__all__ = ["KeySource", "TargetPlan", "UpstreamPlan", "cookie_value"]


class KeySource(Protocol):
    """What a hash key can be taken from: the request (path parameters come separately)."""

    @property
    def client_ip(self) -> str: ...

    @property
    def consumer(self) -> CompiledConsumer | None: ...

    def header(self, name: str) -> str | None: ...


KeyOf = Callable[[KeySource, Mapping[str, str]], str | None]


def cookie_value(header: str | None, name: str) -> str | None:
    """The value of cookie ``name`` in a ``Cookie`` header, ``None`` when absent."""
    if not header:
        return None
    for pair in header.split(";"):
        key, eq, value = pair.strip().partition("=")
        if eq and key == name:
            return value.strip().strip('"')
    return None


def _key_of(source: str | None, name: str | None) -> KeyOf | None:
    if source == "header" and name:
        lower = name.lower()
        return lambda request, params: request.header(lower)
    if source == "cookie" and name:
        return lambda request, params: cookie_value(request.header("cookie"), name)
    if source == "client-ip":
        return lambda request, params: request.client_ip or None
    if source == "consumer":
        return lambda request, params: None if request.consumer is None \
            else request.consumer.name
    if source == "path-param" and name:
        return lambda request, params: params.get(name)
    return None


@mypyc_attr(native_class=False)  # a dataclass naming a type imported for checking only
@dataclass(eq=False)
class TargetPlan:
    """One target of an upstream: its pool key, ``Host`` value and (once bound) its pool."""

    address: str
    host: str
    port: int
    key: str
    host_value: bytes
    max_idle: int
    pool: TargetPool | None = None


def _everything(index: int) -> bool:
    return True


def _usable(states: tuple[TargetState, ...], tried: int, now: float) -> Callable[[int], bool]:
    def usable(index: int) -> bool:
        return not tried >> index & 1 and states[index].available(now)

    return usable


class UpstreamPlan:
    """One upstream of one config version; see the module docstring."""

    __slots__ = (
        "active_check", "algorithm", "board", "breaker", "breaker_settings", "budget",
        "key_of", "least", "name", "passive", "ring", "scheme", "states", "targets", "watched",
        "wrr",
    )  # fmt: skip

    def __init__(self, pool: UpstreamPool) -> None:
        self.name = pool.name
        self.scheme = pool.scheme
        self.targets = tuple(
            TargetPlan(
                address=t.address, host=t.host, port=t.port,
                key=f"{pool.scheme}://{t.host.lower()}:{t.port}",
                host_value=t.address.encode(), max_idle=pool.keepalive_pool,
            )
            for t in pool.targets
        )  # fmt: skip
        weights = [t.weight for t in pool.targets]
        self.algorithm = pool.algorithm
        self.wrr = WeightedRoundRobin(weights)
        self.least = LeastConnections(weights) if pool.algorithm == "least-connections" else None
        self.ring: HashRing | None = None
        self.key_of: KeyOf | None = None
        if pool.algorithm == "consistent-hash":
            self.ring = HashRing([t.address for t in pool.targets], weights)
            self.key_of = _key_of(pool.hash_source, pool.hash_name)
        self.passive = pool.passive_health
        self.active_check = pool.active_health
        self.breaker_settings = pool.circuit_breaker
        self.watched = self.passive is not None or self.breaker_settings is not None
        """Whether answers below 500 must be reported too (passive checks, a breaker)."""
        # bound on the loop by live.LiveUpstreams.bind:
        self.states: tuple[TargetState, ...] = ()
        self.board = HealthBoard(pool.name)
        self.breaker: Breaker | None = None
        self.budget = RetryBudget()

    def pick(self, request: KeySource, params: Mapping[str, str], tried: int,
             now: float) -> int:
        """The index of the target for the next attempt, ``-1`` when none can take it.
        ``tried`` has bit ``i`` set for each target this request tried already."""
        usable: Callable[[int], bool] | None = None
        if not tried and not self.board.down:
            if self.least is None and self.ring is None:
                return self.wrr.pick()
        else:
            usable = _usable(self.states, tried, now)
        if self.least is not None:
            return self.least.pick_among(self.states, usable or _everything)
        if self.ring is not None and self.key_of is not None:
            key = self.key_of(request, params)
            if key is not None:
                return self.ring.lookup(key_hash(key), usable)
        return self.wrr.pick() if usable is None else self.wrr.pick_among(usable)

    # -- what an attempt's end means --------------------------------------------------------

    def succeeded(self, index: int) -> None:
        """An attempt on target ``index`` got a response below 500."""
        if self.passive is not None:
            self.states[index].fails = 0
        if self.breaker is not None:
            self.breaker.succeeded()

    def failed(self, index: int, now: float) -> None:
        """An attempt on target ``index`` failed (connect error, timeout, reset, invalid or
        5xx response)."""
        if self.passive is not None:
            self.states[index].failed(now, self.passive)
        if self.breaker is not None:
            self.breaker.failed(now)

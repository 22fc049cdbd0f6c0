"""The two guards in front of a plugin endpoint: the circuit breaker and the verdict cache.

:class:`CircuitBreaker` opens after ``failure_threshold`` consecutive failures; while open,
calls fail at once (the endpoint's failure mode answers); after ``open_ms`` one call is let
through as a probe (half-open): its success closes the breaker, its failure opens it again.

:class:`VerdictCache` keeps ``on_request`` outcomes, allow and deny alike, for ``ttl``
seconds, keyed by the plugin's declared :class:`CacheKeySpec` (header, query, consumer, route,
client-address parts) and the plugin instance; failures are never cached. It is bounded: when
full, expired entries go first, then the oldest.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Hashable, Mapping
from typing import Generic, Protocol, TypeVar

from edgeway.edge.compile.model import CircuitBreakerSettings
from edgeway.v1 import plugin_pb2

__all__ = ["BreakerState", "CircuitBreaker", "HeaderSource", "KeyBuilder", "VerdictCache"]

V = TypeVar("V")


class BreakerState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


class CircuitBreaker:
    """Consecutive-failure circuit breaker; the clock is injectable for tests."""

    def __init__(self, settings: CircuitBreakerSettings,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.threshold = settings.failure_threshold
        self.open_s = settings.open_ms / 1000
        self._clock = clock
        self._failures = 0
        self._opened_at = 0.0
        self._probing = False
        self.state = BreakerState.CLOSED

    def allow(self) -> bool:
        """Whether a call may go out now (claims the probe when half-open)."""
        if self.state is BreakerState.CLOSED:
            return True
        if self.state is BreakerState.OPEN:
            if self._clock() - self._opened_at < self.open_s:
                return False
            self.state = BreakerState.HALF_OPEN
            self._probing = False
        if self._probing:
            return False
        self._probing = True
        return True

    def success(self) -> None:
        self._failures = 0
        self._probing = False
        self.state = BreakerState.CLOSED

    def failure(self) -> None:
        self._failures += 1
        self._probing = False
        if self.state is BreakerState.HALF_OPEN or self._failures >= self.threshold:
            self.state = BreakerState.OPEN
            self._opened_at = self._clock()


class KeyBuilder:
    """Builds cache keys from requests per a plugin's declared spec (done once per Describe)."""

    def __init__(self, spec: plugin_pb2.CacheKeySpec) -> None:
        self.headers = tuple(name.lower() for name in spec.headers)
        self._header_set = frozenset(self.headers)
        self.query = tuple(spec.query)
        self._query_set = frozenset(self.query)
        self.consumer = spec.consumer
        self.route = spec.route
        self.client_address = spec.client_address
        self.plain = not (self.query or self.consumer or self.route or self.client_address)
        """The key is made of headers only (:meth:`of_headers`; an authorizer's token)."""
        self.single = self.headers[0] if self.plain and len(self.headers) == 1 else None
        """The header of a key made of one header only (the key: the instance's and its
        value)."""

    def __call__(self, instance_key: bytes, request: plugin_pb2.HttpRequest) -> Hashable:
        """The key of a request message (repeated headers joined with ``,``, as the edge sends
        them): the same as :meth:`of_parts` gives for the edge's view of that request."""
        headers: dict[str, str] = {}
        for entry in request.headers:
            if entry.name in self._header_set:
                found = headers.get(entry.name)
                headers[entry.name] = entry.value if found is None else f"{found},{entry.value}"

        def query() -> dict[str, tuple[str, ...]]:
            seen: dict[str, tuple[str, ...]] = {}
            for q in request.query:
                if q.name in self._query_set:
                    seen[q.name] = (*seen.get(q.name, ()), q.value)
            return seen

        return self.of_parts(instance_key, headers.get, query, request.consumer.name,
                             request.route_id, request.client_address)

    def of_parts(self, instance_key: bytes, header: Callable[[str], str | None],
                 query: Callable[[], Mapping[str, tuple[str, ...]]], consumer: str, route: str,
                 client_address: str) -> Hashable:  # fmt: skip
        """The key :meth:`__call__` gives for the request these parts make (``header`` gives
        a header by lower-case name with repeated ones joined, as the request message carries
        them; ``query`` gives the decoded parameters, called only when the spec names some)."""
        parts: list[Hashable] = [instance_key]
        for name in self.headers:
            parts.append(header(name))
        if self.query:
            params = query()
            parts.extend(params.get(name, ()) for name in self.query)
        if self.consumer:
            parts.append(consumer)
        if self.route:
            parts.append(route)
        if self.client_address:
            parts.append(client_address)
        return tuple(parts)

    def of_headers(self, instance_key: bytes, request: HeaderSource) -> Hashable:
        """:meth:`of_parts` for a :attr:`plain` spec, without the parts it does not read
        (``request.header`` as ``of_parts``'s ``header``)."""
        names = self.headers
        if len(names) == 1:
            return self.of_value(instance_key, request.header(names[0]))
        return (instance_key, *[request.header(name) for name in names])

    def of_value(self, instance_key: bytes, value: str | None) -> Hashable:
        """The key of a :attr:`single` header spec whose header has ``value``."""
        return (instance_key, value)


class HeaderSource(Protocol):
    """What :meth:`KeyBuilder.of_headers` reads: a request's headers by lower-case name,
    repeated ones joined (the proxy's ``PolicyView``)."""

    def header(self, name: str) -> str | None: ...


class VerdictCache(Generic[V]):
    """A TTL cache of outcomes, bounded to ``max_entries``."""

    def __init__(self, ttl: float, max_entries: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._clock = clock
        self._entries: dict[Hashable, tuple[float, V]] = {}
        self.hits = 0
        self.misses = 0
        self.generation = 0
        """How many times the cache was cleared (an entry held elsewhere is good only while
        the generation it came from lasts, see :meth:`still`)."""

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Hashable) -> V | None:
        found = self.entry(key)
        return found[1] if found is not None else None

    def entry(self, key: Hashable) -> tuple[float, V] | None:
        """``key``'s entry while it is fresh: until when, and the value."""
        found = self._entries.get(key)
        if found is not None:
            if found[0] > self._clock():
                self.hits += 1
                return found
            del self._entries[key]
        self.misses += 1
        return None

    def still(self, until: float, generation: int) -> bool:
        """Whether an entry :meth:`entry` gave (``until``, at ``generation``) may be served
        again: fresh, and the cache not cleared since (counted as a hit when so)."""
        if generation == self.generation and until > self._clock():
            self.hits += 1
            return True
        return False

    def put(self, key: Hashable, value: V) -> None:
        now = self._clock()
        if len(self._entries) >= self.max_entries and key not in self._entries:
            expired = [k for k, (until, _) in self._entries.items() if until <= now]
            for k in expired[: max(1, self.max_entries // 10)]:
                del self._entries[k]
            if len(self._entries) >= self.max_entries:
                del self._entries[next(iter(self._entries))]
        self._entries[key] = (now + self.ttl, value)

    def clear(self) -> None:
        self._entries.clear()
        self.generation += 1

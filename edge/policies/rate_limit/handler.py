"""Handler of the ``rate-limit`` policy: a token bucket per caller, local or in Redis.

``local``: a bucket table in this process, shared by every config version with the same limit
(a deploy does not refill anyone's bucket). ``cluster``: an ``EVALSHA`` of an atomic Lua script
against the edge's Redis, calls of one loop iteration pipelined together (:mod:`.._redis`);
Redis's clock refills the buckets, so edges agree. When Redis fails or is late,
``failure_mode: open`` counts in this edge's table until Redis answers again and ``closed``
answers 503 ``rate_limit_unavailable``.

Leases (``cluster``, bursts of ``LEASE_DIVISOR`` × 2 tokens and more): while a bucket holds at
least two leases' worth, a call takes a lease of ``burst / LEASE_DIVISOR`` tokens instead of
one, and this edge admits the caller's next requests from it without asking Redis, for
``LEASE_S`` at most. Tokens come only from Redis, so the fleet never admits more than the
limit; the tokens of a lease that expires unused are given back on the next call for the
caller. Near the limit (fewer than two leases' worth left) every request takes one token in
Redis, exactly as without leases. While a lease is held, ``RateLimit-Remaining`` is the
bucket's count in Redis when the lease was taken plus what is left of the lease.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
from collections.abc import Awaitable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Final

from edgeway.edge.memo import Memo
from edgeway.edge.policies._buckets import BUCKET_SCRIPT, BucketTable, LocalBuckets
from edgeway.edge.policies._keys import key_getter
from edgeway.edge.policies._redis import RedisUnavailable, ScriptRunner
from edgeway.edge.policies._responses import error_response
from edgeway.edge.policies.base import Exchange, Outcome, Phase, PolicyHandler
from edgeway.edge.policies.rate_limit.schema import PERIODS

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from edgeway.edge.compile.model import CompiledConfig
    from edgeway.edge.policies.services import Services

__all__ = ["RateLimitHandler", "config_digest"]

REDIS_PREFIX = "edgeway:rl:"
LEASE_DIVISOR: Final = 1000
"""A lease is ``burst / LEASE_DIVISOR`` tokens (limits with bursts under twice this: none)."""
LEASE_S: Final = 0.25
"""How long a lease's tokens may be used before what is left goes back to Redis."""
MAX_LEASES: Final = 100_000
"""Callers with a lease at once, per limit (expired ones are dropped beyond this)."""
MAX_KEYS: Final = 10_000
"""Bucket keys remembered per limit (and route), by caller (emptied when full)."""
_HEADERS: Final = ("ratelimit-limit", "ratelimit-remaining", "ratelimit-reset")
"""The response headers every decision sets (``headers: true``), in their lines' order."""


class Lease:
    """Tokens of one caller's bucket this edge took from Redis ahead of use."""

    def __init__(self, left: int, until: float, tokens: float) -> None:
        self.left = left
        self.until = until
        self.tokens = tokens
        """The bucket's tokens in Redis when the lease was taken (for the headers)."""


def config_digest(config: Mapping[str, Any]) -> str:
    """A short digest of a limit's config, the same in every process for the same config
    (keys sorted, whatever order they came in): the namespace of its buckets."""
    text = json.dumps(_plain(config), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _plain(value: Any) -> Any:
    """Frozen config data as JSON types (read-only mappings to dicts, tuples to lists)."""
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, set | frozenset):
        return sorted(_plain(item) for item in value)
    return value


class RateLimitHandler(PolicyHandler):
    """Admits a request when its caller's bucket has a token (see the module docstring)."""

    NAME: ClassVar[str] = "rate-limit"
    VERSION: ClassVar[str] = "1.0.0"
    PHASE: ClassVar[Phase] = Phase.RATE_LIMIT
    PRIORITY: ClassVar[int] = 910

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)
        self.capacity = float(config.get("burst") or max(1, math.ceil(config["rate"])))
        self.rate = float(config["rate"]) / PERIODS[config["period"]]
        """Tokens per second."""
        self.key = key_getter(config["key"], config.get("key_name", ""))
        self.per_route = config["scope"] == "route"
        self.digest = config_digest(config)
        self.prefix = REDIS_PREFIX + self.digest + ":"
        self.keys = _BucketKeys(self.prefix)
        """Bucket keys by caller key (scope ``shared``)."""
        self.route_keys: dict[str, _BucketKeys] = {}
        """The same by route (scope ``route``): the routes of the config version."""
        self.cluster = config["mode"] == "cluster"
        self.fail_open = config["failure_mode"] == "open"
        self.timeout = config["redis_timeout_ms"] / 1000
        self.headers = bool(config["headers"])
        self.limit_line = b"ratelimit-limit: %d\r\n" % int(self.capacity)
        self.reset = 0
        self.reset_line = b"ratelimit-reset: 0\r\n"
        """The last ``RateLimit-Reset`` value and its line."""
        self.rejected = error_response(429, "rate_limited", config["message"])
        self.unavailable = error_response(
            503, "rate_limit_unavailable", "the rate limit store is unavailable"
        )
        self.buckets = LocalBuckets(self.capacity, self.rate)
        self.table: BucketTable = self.buckets.table
        self.lease_size = int(self.capacity // LEASE_DIVISOR)
        if self.lease_size < 2:
            self.lease_size = 1
        self.leases: dict[str, Lease] = {}
        self.fetching: dict[str, asyncio.Future[None]] = {}
        """Callers whose lease is being asked for: their other requests wait for it."""
        self.runner: ScriptRunner | None = None
        self.clock = _unbound_clock

    def bind(self, config: CompiledConfig, services: Services) -> None:
        self.clock = services.clock
        self.buckets = services.shared(
            ("rate-limit", self.digest), lambda: LocalBuckets(self.capacity, self.rate)
        )
        self.table = self.buckets.table
        if self.cluster:
            redis = services.redis
            if redis is None:
                services.warn_once("rate-limit: mode cluster without Redis, counting locally")
            else:
                key = ("redis-script", id(redis), "bucket")
                self.runner = services.shared(key, lambda: _runner(services, redis))

    def bucket_key(self, exchange: Exchange) -> str:
        """The caller's bucket key: the same string object request after request (no new
        string to build and hash for the table's lookup)."""
        keys = self.keys
        if self.per_route:
            route = exchange.route_id
            found = self.route_keys.get(route)
            if found is None:
                found = self.route_keys[route] = _BucketKeys(self.prefix + route + "|")
            keys = found
        return keys.of(self.key(exchange))

    def on_request(self, exchange: Exchange) -> Outcome | Awaitable[Outcome]:
        key = self.bucket_key(exchange)
        runner = self.runner
        if runner is not None:
            returned = 0
            if self.lease_size > 1:
                lease = self._take_leased(key)
                if lease is not None:
                    return self._decide(exchange, True, lease.tokens + lease.left, 0.0)
                lease = self.leases.get(key)
                fetch = self.fetching.get(key)
                if fetch is not None:  # an expired lease's rest joins the one coming
                    return self._after(exchange, key, runner, fetch)
                if lease is not None and runner.available():
                    returned = lease.left  # expired: its rest goes back with this call
                    del self.leases[key]
            if runner.available():
                return self._cluster(exchange, key, runner, returned)
        return self._without_redis(exchange, key)

    def _without_redis(self, exchange: Exchange, key: str) -> Outcome:
        """No Redis (none configured, or it failed): this edge's bucket, unless the limit
        fails closed in cluster mode."""
        if self.runner is not None and not self.fail_open:
            return self.unavailable
        table = self.table
        allowed = table.take(key, self.clock())
        return self._decide(exchange, allowed, table.left, table.wait)

    def _take_leased(self, key: str) -> Lease | None:
        """``key``'s lease with one token taken from it, while it has tokens and time left."""
        lease = self.leases.get(key)
        if lease is None or lease.left <= 0 or self.clock() >= lease.until:
            return None
        lease.left -= 1
        return lease

    async def _cluster(self, exchange: Exchange, key: str, runner: ScriptRunner,
                       returned: int) -> Outcome:
        fetching = self.fetching
        lease = self.lease_size if self.lease_size > 1 and key not in fetching else 1
        fetch: asyncio.Future[None] | None = None
        if lease > 1:
            fetch = fetching[key] = asyncio.get_running_loop().create_future()
        try:
            allowed, milli_tokens, wait_ms, taken = await runner.call(
                (key,), (self.capacity, self.rate, lease, returned), self.timeout
            )
        except RedisUnavailable:
            return self._without_redis(exchange, key)
        finally:
            if fetch is not None:
                del fetching[key]
                fetch.set_result(None)
        tokens = milli_tokens / 1000
        if taken > 1:
            tokens += self._keep(key, taken - 1, tokens)
        return self._decide(exchange, allowed == 1, tokens, wait_ms / 1000)

    async def _after(self, exchange: Exchange, key: str, runner: ScriptRunner,
                     fetch: asyncio.Future[None]) -> Outcome:
        """Wait for the lease being asked for ``key``, then take from it (or ask Redis)."""
        pending: asyncio.Future[None] | None = fetch
        while pending is not None:
            await asyncio.wait((pending,))  # not cancelled with this request
            lease = self._take_leased(key)
            if lease is not None:
                return self._decide(exchange, True, lease.tokens + lease.left, 0.0)
            pending = self.fetching.get(key)  # spent already: wait for the next one
        if not runner.available():
            return self._without_redis(exchange, key)
        return await self._cluster(exchange, key, runner, 0)

    def _keep(self, key: str, left: int, tokens: float) -> int:
        """Hold ``left`` leased tokens of ``key`` (with what a lease taken meanwhile has left,
        so no granted token is dropped); the tokens this edge now holds for ``key``."""
        now = self.clock()
        leases = self.leases
        held = leases.get(key)
        if held is not None:
            held.left += left
            held.until = now + LEASE_S
            held.tokens = tokens
            return held.left
        if len(leases) >= MAX_LEASES:
            self.leases = leases = {k: v for k, v in leases.items() if now < v.until}
        leases[key] = Lease(left, now + LEASE_S, tokens)
        return left

    def _decide(self, exchange: Exchange, allowed: bool, tokens: float, wait: float) -> Outcome:
        if self.headers:
            reset = math.ceil((self.capacity - tokens) / self.rate)
            if reset != self.reset:  # mostly the same value as the request before: made once
                self.reset, self.reset_line = reset, b"ratelimit-reset: %d\r\n" % reset
            exchange.set_response_lines(_HEADERS, b"%sratelimit-remaining: %d\r\n%s" % (
                self.limit_line, int(tokens), self.reset_line))  # fmt: skip
        if allowed:
            return None
        exchange.set_response_header("retry-after", str(max(1, math.ceil(wait))))
        return self.rejected


class _BucketKeys:
    """Bucket keys (``prefix`` + caller key) by caller key, at most ``MAX_KEYS`` remembered."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.memo: Memo[str, str] = Memo(MAX_KEYS)

    def of(self, caller: str) -> str:
        found = self.memo.get(caller)
        return found if found is not None else self.memo.put(caller, self.prefix + caller)


def _runner(services: Services, redis: Redis) -> ScriptRunner:
    runner = ScriptRunner(redis, BUCKET_SCRIPT)
    return services.closing(runner, runner.close)


def _unbound_clock() -> float:
    raise RuntimeError("rate-limit handler used before bind()")

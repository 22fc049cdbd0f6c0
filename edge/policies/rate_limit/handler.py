"""Handler of the ``rate-limit`` policy: a token bucket per caller, local or in Redis.

``local``: a bucket table in this process, shared by every config version with the same limit
(a deploy does not refill anyone's bucket). ``cluster``: one ``EVALSHA`` of an atomic Lua
script per request against the edge's Redis, calls of one loop iteration pipelined together
(:mod:`.._redis`); Redis's clock refills the buckets, so edges agree. When Redis fails or is
late, ``failure_mode: open`` counts in this edge's table until Redis answers again and
``closed`` answers 503 ``rate_limit_unavailable``.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Awaitable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from edgeway.edge.policies._buckets import BUCKET_SCRIPT, LocalBuckets
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
        self.cluster = config["mode"] == "cluster"
        self.fail_open = config["failure_mode"] == "open"
        self.timeout = config["redis_timeout_ms"] / 1000
        self.headers = bool(config["headers"])
        self.limit_value = str(int(self.capacity))
        self.rejected = error_response(429, "rate_limited", config["message"])
        self.unavailable = error_response(
            503, "rate_limit_unavailable", "the rate limit store is unavailable"
        )
        self.buckets = LocalBuckets(self.capacity, self.rate)
        self.runner: ScriptRunner | None = None
        self.clock = _unbound_clock

    def bind(self, config: CompiledConfig, services: Services) -> None:
        self.clock = services.clock
        self.buckets = services.shared(
            ("rate-limit", self.digest), lambda: LocalBuckets(self.capacity, self.rate)
        )
        if self.cluster:
            redis = services.redis
            if redis is None:
                services.warn_once("rate-limit: mode cluster without Redis, counting locally")
            else:
                key = ("redis-script", id(redis), "bucket")
                self.runner = services.shared(key, lambda: _runner(services, redis))

    def bucket_key(self, exchange: Exchange) -> str:
        if self.per_route:
            return self.prefix + exchange.route_id + "|" + self.key(exchange)
        return self.prefix + self.key(exchange)

    def on_request(self, exchange: Exchange) -> Outcome | Awaitable[Outcome]:
        key = self.bucket_key(exchange)
        runner = self.runner
        if runner is not None:
            if runner.available():
                return self._cluster(exchange, key, runner)
            if not self.fail_open:
                return self.unavailable
        allowed, tokens, wait = self.buckets.take(key, self.clock())
        return self._decide(exchange, allowed, tokens, wait)

    async def _cluster(self, exchange: Exchange, key: str, runner: ScriptRunner) -> Outcome:
        try:
            allowed, milli_tokens, wait_ms = await runner.call(
                (key,), (self.capacity, self.rate), self.timeout
            )
        except RedisUnavailable:
            if not self.fail_open:
                return self.unavailable
            fallback = self.buckets.take(key, self.clock())
            return self._decide(exchange, *fallback)
        return self._decide(exchange, allowed == 1, milli_tokens / 1000, wait_ms / 1000)

    def _decide(self, exchange: Exchange, allowed: bool, tokens: float, wait: float) -> Outcome:
        if self.headers:
            set_header = exchange.set_response_header
            set_header("ratelimit-limit", self.limit_value)
            set_header("ratelimit-remaining", str(int(tokens)))
            set_header("ratelimit-reset", str(math.ceil((self.capacity - tokens) / self.rate)))
        if allowed:
            return None
        exchange.set_response_header("retry-after", str(max(1, math.ceil(wait))))
        return self.rejected


def _runner(services: Services, redis: Redis) -> ScriptRunner:
    runner = ScriptRunner(redis, BUCKET_SCRIPT)
    return services.closing(runner, runner.close)


def _unbound_clock() -> float:
    raise RuntimeError("rate-limit handler used before bind()")

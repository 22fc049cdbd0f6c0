"""Handler of the ``usage-plan`` policy: throttle then meter the caller's plan.

Per request: the consumer's plan (does it cover this route?), the subject (API key hash or
consumer), then in ``cluster`` mode one pipelined call of the atomic script of
:mod:`.store`, or in ``local`` mode (and as the fail-open fallback) the same rules in this
process. A quota refusal does not take a throttle token; a throttled call does not count.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from edgeway.edge.policies._buckets import BucketTable
from edgeway.edge.policies._redis import RedisUnavailable, ScriptRunner
from edgeway.edge.policies._responses import error_response
from edgeway.edge.policies.base import Exchange, Outcome, Phase, PolicyHandler
from edgeway.edge.policies.usage_plan.store import (
    KEEP_AFTER_END_S,
    USAGE_SCRIPT,
    period_bounds,
    quota_key,
    subject_for_consumer,
    throttle_key,
)

if TYPE_CHECKING:
    from edgeway.edge.compile.model import CompiledConfig, CompiledUsagePlan
    from edgeway.edge.policies.services import Services

__all__ = ["LocalUsage", "UsagePlanHandler", "plan_capacity"]

OK, THROTTLED, QUOTA_EXCEEDED = 0, 1, 2


def plan_capacity(plan: CompiledUsagePlan) -> float:
    """Bucket capacity of a plan's throttle: its burst, or its rate rounded up when 0."""
    if plan.rate is None:
        return 0.0
    return float(plan.burst or max(1, math.ceil(plan.rate)))


class LocalUsage:
    """Throttle buckets and quota counts of one plan in this process (shared per edge)."""

    __slots__ = ("__weakref__", "buckets", "counts")

    def __init__(self, capacity: float, rate: float) -> None:
        self.buckets = BucketTable(capacity, rate) if capacity > 0 else None
        self.counts: dict[str, int] = {}

    def take(self, subject_key: str, quota: str | None, limit: int, now: float
             ) -> tuple[int, float, float, int]:  # fmt: skip
        used = self.counts.get(quota, 0) if quota is not None else 0
        if quota is not None and used >= limit:
            return QUOTA_EXCEEDED, 0.0, 0.0, used
        tokens = 0.0
        if self.buckets is not None:
            buckets = self.buckets
            allowed = buckets.take(subject_key, now)
            tokens = buckets.left
            if not allowed:
                return THROTTLED, tokens, buckets.wait, used
        if quota is not None:
            if len(self.counts) > 100_000:
                self.counts.clear()
            used = self.counts[quota] = used + 1
        return OK, tokens, 0.0, used


def _local_usage(capacity: float, rate: float) -> Callable[[], LocalUsage]:
    return lambda: LocalUsage(capacity, rate)


class UsagePlanHandler(PolicyHandler):
    """Enforces the caller's usage plan (see the module docstring)."""

    NAME: ClassVar[str] = "usage-plan"
    VERSION: ClassVar[str] = "1.0.0"
    PHASE: ClassVar[Phase] = Phase.RATE_LIMIT
    PRIORITY: ClassVar[int] = 900

    throttled = error_response(429, "throttled", "Too Many Requests: the usage plan's rate"
                               " limit is exceeded")  # fmt: skip
    exceeded = error_response(429, "quota_exceeded", "Limit Exceeded: the usage plan's quota"
                              " for this period is used up")  # fmt: skip
    unavailable = error_response(503, "usage_plan_unavailable",
                                 "the usage plan store is unavailable")  # fmt: skip

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)
        self.cluster = config["mode"] == "cluster"
        self.fail_open = config["failure_mode"] == "open"
        self.timeout = config["redis_timeout_ms"] / 1000
        self.headers = bool(config["headers"])
        self.runner: ScriptRunner | None = None
        self.local: dict[str, LocalUsage] = {}
        self.services: Services | None = None

    def bind(self, config: CompiledConfig, services: Services) -> None:
        self.services = services
        for plan in config.usage_plans.values():
            capacity, rate = plan_capacity(plan), plan.rate or 0.0
            self.local[plan.name] = services.shared(
                ("usage-plan", plan.name, capacity, rate), _local_usage(capacity, rate)
            )
        redis = services.redis
        if self.cluster and redis is not None:
            runner = ScriptRunner(redis, USAGE_SCRIPT)
            self.runner = services.shared(("redis-script", id(redis), "usage"),
                                          lambda: services.closing(runner, runner.close))
        elif self.cluster and config.usage_plans:
            services.warn_once("usage-plan: no Redis, counting usage plans locally")

    def on_request(self, exchange: Exchange) -> Outcome | Awaitable[Outcome]:
        consumer = exchange.consumer
        plan = consumer.usage_plan if consumer is not None else None
        if plan is None or consumer is None:
            return None
        if plan.routes and exchange.route_id not in plan.routes:
            return None
        credential = exchange.credential
        if credential is not None and credential.type == "key-auth" and credential.key_hash:
            subject = credential.key_hash
        else:
            subject = subject_for_consumer(consumer.name)
        services = self.services
        if services is None:
            raise RuntimeError("usage-plan handler used before bind()")
        quota: str | None = None
        end = 0.0
        if plan.quota_limit is not None and plan.quota_period is not None:
            period_id, _, end = period_bounds(plan.quota_period, services.wall())
            quota = quota_key(subject, plan.quota_period, period_id)
        runner = self.runner
        if runner is not None:
            if runner.available():
                return self._cluster(exchange, plan, subject, quota, end, runner)
            if not self.fail_open:
                return self.unavailable
        local = self.local[plan.name]
        result = local.take(subject, quota, plan.quota_limit or 0, services.clock())
        return self._decide(exchange, plan, end, *result)

    async def _cluster(self, exchange: Exchange, plan: CompiledUsagePlan, subject: str,
                       quota: str | None, end: float, runner: ScriptRunner) -> Outcome:  # fmt: skip
        assert self.services is not None
        now = self.services.wall()
        ttl_ms = int((end - now + KEEP_AFTER_END_S) * 1000) if quota is not None else 0
        keys = (throttle_key(subject), quota or throttle_key(subject) + ":none")
        args = (plan_capacity(plan), plan.rate or 0.0, plan.quota_limit or 0 if quota else 0,
                max(ttl_ms, 1), plan.name)  # fmt: skip
        try:
            code, milli_tokens, wait_ms, used = await runner.call(keys, args, self.timeout)
        except RedisUnavailable:
            if not self.fail_open:
                return self.unavailable
            local = self.local[plan.name]
            result = local.take(subject, quota, plan.quota_limit or 0, self.services.clock())
            return self._decide(exchange, plan, end, *result)
        return self._decide(exchange, plan, end, code, milli_tokens / 1000, wait_ms / 1000, used)

    def _decide(self, exchange: Exchange, plan: CompiledUsagePlan, end: float, code: int,
                tokens: float, wait: float, used: int) -> Outcome:  # fmt: skip
        limit = plan.quota_limit
        if self.headers and limit is not None:
            exchange.set_response_header("x-quota-limit", str(limit))
            exchange.set_response_header("x-quota-remaining", str(max(0, limit - used)))
        if code == OK:
            return None
        if code == THROTTLED:
            exchange.set_response_header("retry-after", str(max(1, math.ceil(wait))))
            return self.throttled
        assert self.services is not None
        retry = max(1, math.ceil(end - self.services.wall()))
        exchange.set_response_header("retry-after", str(retry))
        return self.exceeded

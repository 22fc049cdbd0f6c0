"""Compile upstreams: targets, load balancing, health checks, timeouts, retries, breakers."""

from __future__ import annotations

from edgeway.common.errors import join_path
from edgeway.edge.compile import rules
from edgeway.edge.compile.model import (
    ActiveHealthCheck,
    CircuitBreakerSettings,
    CompiledTarget,
    PassiveHealthCheck,
    RetrySettings,
    TimeoutSettings,
    UpstreamPool,
)
from edgeway.edge.compile.paths import parse_address
from edgeway.edge.compile.rules import Errors
from edgeway.v1 import config_pb2

__all__ = ["DEFAULT_RETRIES", "DEFAULT_TIMEOUTS", "compile_upstreams", "retries", "timeouts"]

DEFAULT_TIMEOUTS = TimeoutSettings(
    connect_ms=rules.CONNECT_MS.default,
    first_byte_ms=rules.TOTAL_MS.default,
    total_ms=rules.TOTAL_MS.default,
)
DEFAULT_RETRIES = RetrySettings(
    attempts=rules.RETRY_ATTEMPTS_DEFAULT,
    budget_percent=rules.RETRY_BUDGET_DEFAULT,
    on_connect_failure=True,
)


def timeouts(
    message: config_pb2.Timeouts, path: str, base: TimeoutSettings, errors: Errors
) -> TimeoutSettings:
    """``message``'s timeouts over ``base`` (unset fields inherit), bounds checked.

    An unset first-byte timeout follows the total one (never longer than it).
    """
    connect, total = base.connect_ms, base.total_ms
    if message.connect_ms:
        connect = rules.CONNECT_MS.resolve(
            message.connect_ms, join_path(path, "connect_ms"), errors
        )
    if message.total_ms:
        total = rules.TOTAL_MS.resolve(message.total_ms, join_path(path, "total_ms"), errors)
    first = min(base.first_byte_ms, total)
    if message.first_byte_ms:
        first_path = join_path(path, "first_byte_ms")
        first = rules.FIRST_BYTE_MS.resolve(message.first_byte_ms, first_path, errors) or total
        if first > total:
            errors.add(first_path, f"must not exceed the total timeout ({total} ms)")
    return TimeoutSettings(connect_ms=connect, first_byte_ms=first, total_ms=total)


def retries(
    message: config_pb2.Retries, path: str, base: RetrySettings, errors: Errors
) -> RetrySettings:
    """``message``'s retry settings over ``base`` (unset fields inherit), bounds checked."""
    attempts, budget = base.attempts, base.budget_percent
    if message.HasField("attempts"):
        attempts = message.attempts
        if not 0 <= attempts <= rules.RETRY_ATTEMPTS_MAX:
            limit = rules.RETRY_ATTEMPTS_MAX
            errors.add(join_path(path, "attempts"), f"must be between 0 and {limit}")
    if message.HasField("budget_percent"):
        budget = message.budget_percent
        if not 0 <= budget <= 100:
            errors.add(join_path(path, "budget_percent"), "must be between 0 and 100")
    on_connect = base.on_connect_failure
    if message.HasField("on_connect_failure"):
        on_connect = message.on_connect_failure
    return RetrySettings(attempts, budget, on_connect)


def circuit_breaker(
    message: config_pb2.CircuitBreaker, path: str, errors: Errors
) -> CircuitBreakerSettings:
    return CircuitBreakerSettings(
        failure_threshold=rules.FAILURE_THRESHOLD.resolve(
            message.failure_threshold, join_path(path, "failure_threshold"), errors
        ),
        open_ms=rules.OPEN_MS.resolve(message.open_ms, join_path(path, "open_ms"), errors),
    )


def _active(message: config_pb2.ActiveHealthCheck, path: str, errors: Errors) -> ActiveHealthCheck:
    check_path = message.path or "/"
    if not check_path.startswith("/"):
        errors.add(join_path(path, "path"), "must start with '/'")
    interval = rules.INTERVAL_MS.resolve(
        message.interval_ms, join_path(path, "interval_ms"), errors
    )
    timeout = rules.CHECK_TIMEOUT_MS.resolve(
        message.timeout_ms, join_path(path, "timeout_ms"), errors
    )
    if timeout >= interval:
        errors.add(join_path(path, "timeout_ms"), f"must be less than interval_ms ({interval})")
    statuses = frozenset(message.healthy_statuses) or frozenset(range(200, 400))
    for index, status in enumerate(message.healthy_statuses):
        if not 100 <= status <= 599:
            errors.add(join_path(join_path(path, "healthy_statuses"), index), "must be 100..599")
    return ActiveHealthCheck(
        path=check_path,
        interval_ms=interval,
        timeout_ms=timeout,
        healthy_threshold=rules.HEALTHY_THRESHOLD.resolve(
            message.healthy_threshold, join_path(path, "healthy_threshold"), errors
        ),
        unhealthy_threshold=rules.UNHEALTHY_THRESHOLD.resolve(
            message.unhealthy_threshold, join_path(path, "unhealthy_threshold"), errors
        ),
        healthy_statuses=statuses,
    )


def _targets(
    upstream: config_pb2.Upstream, path: str, referenced: bool, errors: Errors
) -> tuple[CompiledTarget, ...]:
    targets_path = join_path(path, "targets")
    if not upstream.targets:
        if referenced:
            errors.add(targets_path, "a routed upstream needs at least one target")
        return ()
    result: list[CompiledTarget] = []
    seen: dict[str, int] = {}
    for index, target in enumerate(upstream.targets):
        target_path = join_path(targets_path, index)
        weight = target.weight if target.HasField("weight") else 1
        if weight < 0:
            errors.add(join_path(target_path, "weight"), "must be 0 (drained) or more")
        try:
            host, port = parse_address(target.address)
        except ValueError as exc:
            errors.add(join_path(target_path, "address"), str(exc))
            continue
        key = target.address.lower()
        if key in seen:
            message = f"target {target.address!r} is listed twice (also targets[{seen[key]}])"
            errors.add(join_path(target_path, "address"), message)
        seen.setdefault(key, index)
        result.append(CompiledTarget(target.address, host, port, weight))
    if all(t.weight == 0 for t in result) and len(result) == len(upstream.targets):
        errors.add(targets_path, "at least one target needs a weight above 0")
    return tuple(result)


def _upstream(
    upstream: config_pb2.Upstream, path: str, referenced: bool, errors: Errors
) -> UpstreamPool:
    targets = _targets(upstream, path, referenced, errors)
    algorithm = rules.one_of(
        upstream.algorithm, rules.ALGORITHMS, join_path(path, "algorithm"), errors,
        default="round-robin",
    )  # fmt: skip
    hash_source = hash_name = None
    hash_path = join_path(path, "hash_on")
    if upstream.HasField("hash_on"):
        if algorithm is not None and algorithm != "consistent-hash":
            errors.add(hash_path, "applies only to the consistent-hash algorithm")
        hash_source = rules.one_of(
            upstream.hash_on.source, rules.HASH_SOURCES, join_path(hash_path, "source"), errors
        )
        hash_name = upstream.hash_on.name or None
        needs_name = hash_source in rules.HASH_SOURCES_NEEDING_NAME
        if needs_name and not hash_name:
            errors.add(join_path(hash_path, "name"), f"is required when source is {hash_source}")
        elif hash_source is not None and hash_name and not needs_name:
            errors.add(join_path(hash_path, "name"), f"is not used with source {hash_source}")
    elif algorithm == "consistent-hash":
        errors.add(hash_path, "is required with the consistent-hash algorithm")
    scheme = rules.one_of(
        upstream.scheme, rules.SCHEMES, join_path(path, "scheme"), errors, default="http"
    )
    health = upstream.health_checks
    health_path = join_path(path, "health_checks")
    active = passive = None
    if health.HasField("active"):
        active = _active(health.active, join_path(health_path, "active"), errors)
    if health.HasField("passive"):
        passive_path = join_path(health_path, "passive")
        passive = PassiveHealthCheck(
            max_failures=rules.MAX_FAILURES.resolve(
                health.passive.max_failures, join_path(passive_path, "max_failures"), errors
            ),
            ejection_ms=rules.EJECTION_MS.resolve(
                health.passive.ejection_ms, join_path(passive_path, "ejection_ms"), errors
            ),
        )
    breaker = None
    if upstream.HasField("circuit_breaker"):
        breaker_path = join_path(path, "circuit_breaker")
        breaker = circuit_breaker(upstream.circuit_breaker, breaker_path, errors)
    return UpstreamPool(
        name=upstream.name,
        targets=targets,
        algorithm=algorithm or "round-robin",
        hash_source=hash_source,
        hash_name=hash_name,
        scheme=scheme or "http",
        active_health=active,
        passive_health=passive,
        timeouts=timeouts(upstream.timeouts, join_path(path, "timeouts"), DEFAULT_TIMEOUTS, errors),
        retries=retries(upstream.retries, join_path(path, "retries"), DEFAULT_RETRIES, errors),
        circuit_breaker=breaker,
        keepalive_pool=rules.KEEPALIVE_POOL.resolve(
            upstream.keepalive_pool, join_path(path, "keepalive_pool"), errors
        ),
    )


def compile_upstreams(config: config_pb2.GatewayConfig, errors: Errors) -> dict[str, UpstreamPool]:
    """Every upstream by name. Names must be present, well formed and unique; an upstream that
    a route uses needs targets."""
    referenced = {route.upstream for route in config.routes if route.upstream}
    pools: dict[str, UpstreamPool] = {}
    first_index: dict[str, int] = {}
    for index, upstream in enumerate(config.upstreams):
        path = join_path("upstreams", index)
        name = upstream.name
        problem = rules.name_problem(name, "upstream name", "upstreams", first_index,
                                     article="an")  # fmt: skip
        if problem:
            errors.add(join_path(path, "name"), problem)
        pool = _upstream(upstream, path, name in referenced, errors)
        if name and name not in first_index:
            first_index[name] = index
            pools[name] = pool
    return pools

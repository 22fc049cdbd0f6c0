"""``compile_config``: a validated ``GatewayConfig`` to an immutable :class:`CompiledConfig`.

The sections are compiled in dependency order (plugins, upstreams and usage plans before the
routes and consumers that refer to them), each collecting its errors; the errors are then
reported in the order of the config's fields (routes first), all of them at once.
"""

from __future__ import annotations

from types import MappingProxyType

from edgeway.common.errors import ConfigError, ConfigInvalid
from edgeway.edge.compile.conflicts import find_conflicts
from edgeway.edge.compile.consumers import compile_consumers, compile_usage_plans
from edgeway.edge.compile.limits import compile_limits
from edgeway.edge.compile.model import CompiledConfig
from edgeway.edge.compile.policies import PolicyContext, chain, compile_plugins, compile_policies
from edgeway.edge.compile.routes import compile_routes
from edgeway.edge.compile.rules import Errors
from edgeway.edge.compile.upstreams import compile_upstreams
from edgeway.edge.policies.base import ConfigNames
from edgeway.edge.policies.registry import PolicyRegistry, builtin_registry
from edgeway.v1.config_pb2 import GatewayConfig

__all__ = ["compile_config", "compile_errors"]

MAX_ERRORS = 500
"""At most this many errors are listed; a last error says how many were left out."""


def _compile(
    config: GatewayConfig, registry: PolicyRegistry
) -> tuple[CompiledConfig | None, list[ConfigError]]:
    route_errors, upstream_errors, consumer_errors = Errors(), Errors(), Errors()
    plan_errors, policy_errors, plugin_errors = Errors(), Errors(), Errors()
    plugins = compile_plugins(config, registry, plugin_errors)
    names = ConfigNames(consumers=frozenset(consumer.name for consumer in config.consumers))
    context = PolicyContext(registry, frozenset(plugins), names)
    upstreams = compile_upstreams(config, upstream_errors)
    plans = compile_usage_plans(config, plan_errors)
    global_steps = compile_policies(config.policies, "policies", context, policy_errors)
    limit_errors = Errors()
    limits = compile_limits(config.limits, "limits", limit_errors)
    consumers, credentials = compile_consumers(config, plans, context, consumer_errors)
    routes = compile_routes(config, upstreams, global_steps, context, route_errors,
                            body_limit=limits.max_body_bytes)
    find_conflicts(
        [(index, config.routes[index].id, match) for index, match, _ in routes], route_errors
    )
    errors = [
        *route_errors, *upstream_errors, *consumer_errors,
        *plan_errors, *policy_errors, *plugin_errors, *limit_errors,
    ]  # fmt: skip
    if errors:
        return None, errors
    compiled_routes = tuple(route for _, _, route in routes if route is not None)
    compiled = CompiledConfig(
        routes=compiled_routes,
        routes_by_id=MappingProxyType({route.id: route for route in compiled_routes}),
        upstreams=MappingProxyType(upstreams),
        consumers=MappingProxyType(consumers),
        credentials=credentials,
        usage_plans=MappingProxyType(plans),
        plugins=MappingProxyType(plugins),
        global_policies=chain(global_steps),
        limits=limits,
        variables=MappingProxyType(dict(config.variables)),
    )
    return compiled, []


def _capped(errors: list[ConfigError]) -> list[ConfigError]:
    if len(errors) <= MAX_ERRORS:
        return errors
    left_out = len(errors) - MAX_ERRORS
    return [*errors[:MAX_ERRORS], ConfigError("", f"... and {left_out} more errors")]


def compile_errors(
    config: GatewayConfig, registry: PolicyRegistry | None = None
) -> list[ConfigError]:
    """Every semantic error of ``config`` (empty when it compiles)."""
    return _capped(_compile(config, registry or builtin_registry())[1])


def compile_config(config: GatewayConfig, registry: PolicyRegistry | None = None) -> CompiledConfig:
    """Validate ``config`` semantically and compile it; raise :class:`ConfigInvalid` with
    every error. Pure: no I/O, no sockets. ``registry`` defaults to the built-in policies.

    ``config`` must be concrete (rendered for its stage): a ``${stage.NAME}`` left in it is
    taken literally. Use :func:`edgeway.edge.compile.check_config` for a config with stage
    variables.
    """
    compiled, errors = _compile(config, registry or builtin_registry())
    if compiled is None:
        raise ConfigInvalid(_capped(errors))
    return compiled

"""Compile policy instances (global, per route, per consumer) and plugin endpoints.

A policy instance names a built-in policy of the registry or a plugin of ``plugins``. A
built-in's config is validated against its JSON Schema here, every error with the path of the
bad field (``routes[0].policies[1].config.limit``), and its handler is built once; a plugin's
config is validated later by the plugin's own ``ValidateConfig``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import json_format, struct_pb2

from edgeway.common.errors import join_path
from edgeway.edge.compile import rules
from edgeway.edge.compile.model import CompiledPlugin, PolicyStep
from edgeway.edge.compile.paths import parse_address
from edgeway.edge.compile.rules import Errors
from edgeway.edge.compile.upstreams import circuit_breaker
from edgeway.edge.policies._messages import Problem
from edgeway.edge.policies.base import ConfigNames, Phase, PolicyHandler, freeze
from edgeway.edge.policies.registry import PolicyRegistry, PolicySpec
from edgeway.v1 import config_pb2

__all__ = [
    "CONTEXT_PREFIX_RULE",
    "PLUGIN_PRIORITY",
    "PolicyContext",
    "chain",
    "compile_plugins",
    "compile_policies",
    "json_of",
]

PLUGIN_PRIORITY = 0
"""Plugins run in the plugins phase in the order written (all share this priority)."""


def json_of(message: struct_pb2.Struct | struct_pb2.Value) -> Any:
    """A Struct/Value as plain JSON data, whole numbers as ``int`` (Struct keeps doubles)."""
    return _whole(json_format.MessageToDict(message))


def _whole(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, list):
        return [_whole(item) for item in value]
    if isinstance(value, dict):
        return {key: _whole(item) for key, item in value.items()}
    return value


_Built = tuple[list[Problem], PolicyHandler | None]


@dataclass(frozen=True, slots=True)
class PolicyContext:
    """What resolving a policy name needs: the built-ins, the configured plugin names and the
    names policy configs may refer to (``names``: the gateway config's consumers).

    ``built`` remembers, for one compile, the outcome per (policy, config bytes): routes often
    share a policy config, and a handler is immutable, so it is validated and built once.
    """

    registry: PolicyRegistry
    plugins: frozenset[str]
    names: ConfigNames = field(default_factory=ConfigNames)
    built: dict[tuple[str, bytes], _Built] = field(default_factory=dict)

    def build(self, spec: PolicySpec, config: struct_pb2.Struct) -> _Built:
        """Problems of ``config`` for ``spec``, and its handler when there are none."""
        key = (spec.name, config.SerializeToString(deterministic=True))
        if key not in self.built:
            data = json_of(config)
            problems = spec.validate(data, self.names)
            self.built[key] = (problems, None if problems else spec.build(data))
        return self.built[key]

    def unknown(self, name: str) -> str:
        builtins = self.registry.names()
        hint = rules.suggestion(name, [*builtins, *self.plugins])
        if not hint:
            plugins = ", ".join(sorted(self.plugins)) or "none"
            hint = f" (built-in policies: {', '.join(builtins) or 'none'}; plugins: {plugins})"
        return f"unknown policy {name!r}{hint}"


def _instance(
    instance: config_pb2.PolicyInstance, path: str, context: PolicyContext, errors: Errors
) -> PolicyStep | None:
    name = instance.name
    if not name:
        errors.add(join_path(path, "name"), "a policy name is required")
        return None
    spec = context.registry.get(name)
    if spec is not None:
        problems, handler = context.build(spec, instance.config)
        config_path = join_path(path, "config")
        for parts, message in problems:
            where = config_path
            for part in parts:
                where = join_path(where, part)
            errors.add(where, message)
        if handler is None:
            return None
        return PolicyStep(name, spec.phase, spec.priority, path, handler.config, handler=handler)
    if name in context.plugins:
        config = freeze(json_of(instance.config))
        return PolicyStep(name, Phase.PLUGINS, PLUGIN_PRIORITY, path, config, plugin=name)
    errors.add(join_path(path, "name"), context.unknown(name))
    return None


def compile_policies(
    instances: Iterable[config_pb2.PolicyInstance],
    path: str,
    context: PolicyContext,
    errors: Errors,
) -> list[PolicyStep]:
    """The enabled instances of a ``policies`` list, in the order written (all validated)."""
    steps: list[PolicyStep] = []
    for index, instance in enumerate(instances):
        step = _instance(instance, join_path(path, index), context, errors)
        enabled = not instance.HasField("enabled") or instance.enabled
        if step is not None and enabled:
            steps.append(step)
    return steps


def chain(*groups: Iterable[PolicyStep]) -> tuple[PolicyStep, ...]:
    """Steps in phase order, higher priority first, then as written (groups in order)."""
    ordered = [step for group in groups for step in group]
    keyed = sorted(enumerate(ordered), key=lambda p: (p[1].phase.rank, -p[1].priority, p[0]))
    return tuple(step for _, step in keyed)


CONTEXT_PREFIX_DEFAULT = "x-edgeway-context-"
CONTEXT_PREFIX = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
CONTEXT_PREFIX_RULE = (
    "must be empty (no context headers) or a lower-case header name prefix: letters, digits "
    "and '-', at most 63 characters"
)


def _plugin_name_problem(
    name: str, registry: PolicyRegistry, first_index: Mapping[str, int]
) -> str | None:
    if name in registry:  # built-in names are never in first_index
        return f"{name!r} is a built-in policy: give the plugin another name"
    return rules.name_problem(name, "plugin name", "plugins", first_index)


def compile_plugins(
    config: config_pb2.GatewayConfig, registry: PolicyRegistry, errors: Errors
) -> dict[str, CompiledPlugin]:
    """Plugin endpoints by name: unique names that are not built-in policy names, at least one
    ``host:port`` endpoint, timeout and cache TTL within bounds, failure mode closed|open."""
    plugins: dict[str, CompiledPlugin] = {}
    first_index: dict[str, int] = {}
    for index, plugin in enumerate(config.plugins):
        path = join_path("plugins", index)
        name_path = join_path(path, "name")
        name = plugin.name
        problem = _plugin_name_problem(name, registry, first_index)
        if problem:
            errors.add(name_path, problem)
        endpoints: list[tuple[str, int]] = []
        endpoints_path = join_path(path, "endpoints")
        if not plugin.endpoints:
            errors.add(endpoints_path, "a plugin needs at least one host:port endpoint")
        for e_index, endpoint in enumerate(plugin.endpoints):
            try:
                endpoints.append(parse_address(endpoint))
            except ValueError as exc:
                errors.add(join_path(endpoints_path, e_index), str(exc))
        ttl = plugin.cache_ttl_ms
        if not 0 <= ttl <= rules.CACHE_TTL_MS_MAX:
            limit = rules.CACHE_TTL_MS_MAX
            errors.add(join_path(path, "cache_ttl_ms"), f"must be between 0 (no cache) and {limit}")
        failure_mode = rules.one_of(
            plugin.failure_mode, rules.FAILURE_MODES, join_path(path, "failure_mode"), errors,
            default="closed",
        )  # fmt: skip
        breaker = None
        if plugin.HasField("circuit_breaker"):
            breaker_path = join_path(path, "circuit_breaker")
            breaker = circuit_breaker(plugin.circuit_breaker, breaker_path, errors)
        prefix = CONTEXT_PREFIX_DEFAULT
        if plugin.HasField("context_header_prefix"):
            prefix = plugin.context_header_prefix
            if prefix and not CONTEXT_PREFIX.fullmatch(prefix):
                errors.add(join_path(path, "context_header_prefix"), CONTEXT_PREFIX_RULE)
        compiled = CompiledPlugin(
            name=name,
            endpoints=tuple(endpoints),
            timeout_ms=rules.PLUGIN_TIMEOUT_MS.resolve(
                plugin.timeout_ms, join_path(path, "timeout_ms"), errors
            ),
            failure_mode=failure_mode or "closed",
            cache_ttl_ms=max(0, min(ttl, rules.CACHE_TTL_MS_MAX)),
            circuit_breaker=breaker,
            context_header_prefix=prefix,
            concurrent=plugin.concurrent,
        )
        if not problem:
            first_index[name] = index
            plugins[name] = compiled
    return plugins

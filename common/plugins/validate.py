"""Plugin configs checked by the plugins themselves, at apply time.

:func:`validate_plugin_configs` finds every policy instance of a ``GatewayConfig`` (global,
per route, per consumer) whose name is a plugin, asks that plugin's ``ValidateConfig`` (each
distinct config once, all plugins concurrently, within ``timeout``) and maps the plugin's errors
to config paths: ``routes[0].policies[1].config.limits[0].max``. A plugin that cannot be reached
is one error naming the plugin and its endpoints, at ``plugins[i].endpoints``: an apply cannot
vouch for configs nobody checked. This module opens channels only for the calls it makes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from google.protobuf import struct_pb2

from edgeway.common.plugins.transport import CallFailed, Transport
from edgeway.v1 import config_pb2, plugin_pb2

__all__ = ["PluginUnreachable", "validate_config", "validate_plugin_configs"]


class PluginUnreachable(Exception):
    """No endpoint of a plugin answered ``ValidateConfig``."""

    def __init__(self, plugin: str, endpoints: Sequence[str], reason: str) -> None:
        self.plugin = plugin
        self.endpoints = list(endpoints)
        self.reason = reason
        where = ", ".join(endpoints) or "no endpoint"
        super().__init__(f"plugin {plugin!r} is unreachable at {where} ({reason}): its "
                         "configs cannot be validated")


def config_path(base: str, plugin_path: str) -> str:
    """``base`` extended by a plugin's own field path (``limits[0].max``, ``[2]``, ``""``)."""
    if not plugin_path:
        return base
    return f"{base}{plugin_path}" if plugin_path.startswith("[") else f"{base}.{plugin_path}"


async def validate_config(plugin: str, endpoints: Sequence[str], config: struct_pb2.Struct, *,
                          route_id: str = "",
                          timeout: float = 2.0,  # noqa: ASYNC109 - the call's deadline
                          ) -> list[tuple[str, str]]:
    """A plugin's ``(path, message)`` errors for ``config``; ``PluginUnreachable`` when none of
    ``endpoints`` (``host:port``) answers within ``timeout``."""
    transport = Transport(plugin, endpoints) if endpoints else None
    if transport is None:
        raise PluginUnreachable(plugin, endpoints, "no endpoint configured")
    try:
        answer = await _ask(transport, config, route_id, budget=timeout)
    finally:
        await transport.close()
    return answer


async def _ask(transport: Transport, config: struct_pb2.Struct, route_id: str,
               budget: float) -> list[tuple[str, str]]:
    try:
        answer = await transport.validate(
            plugin_pb2.ValidateConfigRequest(config=config, route_id=route_id), budget)
    except CallFailed as failure:
        addresses = [replica.address for replica in transport.replicas]
        raise PluginUnreachable(transport.name, addresses, failure.reason) from None
    return [(error.path, error.message) for error in answer.errors]


@dataclass(frozen=True, slots=True)
class _Use:
    path: str
    route_id: str
    config: struct_pb2.Struct


def _uses(config: config_pb2.GatewayConfig, plugins: set[str]) -> Iterator[tuple[str, _Use]]:
    for index, instance in enumerate(config.policies):
        if instance.name in plugins:
            yield instance.name, _Use(f"policies[{index}]", "", instance.config)
    for r_index, route in enumerate(config.routes):
        for index, instance in enumerate(route.policies):
            if instance.name in plugins:
                path = f"routes[{r_index}].policies[{index}]"
                yield instance.name, _Use(path, route.id, instance.config)
    for c_index, consumer in enumerate(config.consumers):
        for index, instance in enumerate(consumer.policies):
            if instance.name in plugins:
                yield instance.name, _Use(f"consumers[{c_index}].policies[{index}]", "",
                                          instance.config)


async def validate_plugin_configs(
    config: config_pb2.GatewayConfig,
    timeout: float = 2.0,  # noqa: ASYNC109 - bounds each plugin's checks
) -> list[tuple[str, str]]:
    """Every plugin instance's config checked by its plugin: ``(path, message)`` errors."""
    endpoints = {p.name: (index, list(p.endpoints)) for index, p in enumerate(config.plugins)}
    by_plugin: dict[str, list[_Use]] = {}
    for name, use in _uses(config, set(endpoints)):
        by_plugin.setdefault(name, []).append(use)
    results = await asyncio.gather(*(
        _check_plugin(name, endpoints[name], uses, timeout) for name, uses in by_plugin.items()
    ))  # fmt: skip
    return [error for errors in results for error in errors]


async def _check_plugin(name: str, endpoint: tuple[int, list[str]], uses: list[_Use],
                        budget: float) -> list[tuple[str, str]]:
    index, addresses = endpoint
    if not addresses:
        return []  # the compile step reports the missing endpoint
    transport = Transport(name, addresses)
    errors: list[tuple[str, str]] = []
    answers: dict[tuple[bytes, str], list[tuple[str, str]]] = {}
    try:
        async with asyncio.timeout(budget):
            for use in uses:
                key = (use.config.SerializeToString(deterministic=True), use.route_id)
                if key not in answers:
                    answers[key] = await _ask(transport, use.config, use.route_id, budget)
                base = f"{use.path}.config"
                errors.extend((config_path(base, path), message)
                              for path, message in answers[key])
    except PluginUnreachable as exc:
        return [(f"plugins[{index}].endpoints", str(exc))]
    except TimeoutError:
        shown = ", ".join(addresses)
        return [(f"plugins[{index}].endpoints",
                 f"plugin {name!r} at {shown} did not validate its configs within {budget:g}s")]
    finally:
        await transport.close()
    return errors

"""What the admin API does, without HTTP: apply, deploy, promote, rollback, diff.

Every operation checks its input completely before it writes anything. Apply parses the text,
replaces plaintext secrets by their hashes, runs the edge's own compile step (so "accepted" means
"compiles on every edge"), asks every plugin named by a policy instance to check its config
(``ValidateConfig``), and only then asks the store for a version. Deploy and promote render the
version for the target stage (stage variables), compile that rendering and have the plugins
check it before the stage pointer moves. CPU-heavy steps run in a worker thread.
"""

from __future__ import annotations

import asyncio
from typing import Literal

from edgeway.common.config.diff import diff_configs
from edgeway.common.config.loading import config_from_dict, parse_config_text
from edgeway.common.config.secrets import normalize_secrets
from edgeway.common.config.variables import render_defaults, render_for_stage
from edgeway.common.errors import ConfigError, ConfigInvalid
from edgeway.common.plugins import validate_plugin_configs
from edgeway.controlplane.store import ApplyResult, Deployment, Store
from edgeway.edge.compile import check_config, compile_config
from edgeway.v1.config_pb2 import GatewayConfig

ConfigFormat = Literal["yaml", "json"]

PLUGIN_VALIDATION_TIMEOUT = 5.0
"""Seconds all plugins together get to answer ValidateConfig during one apply or deploy."""


def prepare_config(config: GatewayConfig) -> GatewayConfig:
    """Hash secrets and validate; the result is what a version stores. Raises ConfigInvalid."""
    normalized = normalize_secrets(config)
    errors = check_config(normalized)
    if errors:
        raise ConfigInvalid(errors)
    return normalized


def prepare_text(text: str | bytes, *, fmt: ConfigFormat | None = None,
                 source: str = "<config>") -> GatewayConfig:
    """Parse operator text (YAML or JSON) and :func:`prepare_config` it."""
    return prepare_config(parse_config_text(text, source=source, fmt=fmt))


def check_stage_rendering(config: GatewayConfig, stage: str) -> GatewayConfig:
    """Render ``config`` for ``stage`` and compile it; raise ConfigInvalid naming the stage."""
    try:
        rendered = render_for_stage(config, stage)
        compile_config(rendered)
    except ConfigInvalid as exc:
        raise ConfigInvalid([ConfigError(e.path, f"{e.message} (stage {stage!r})")
                             for e in exc.errors]) from None
    return rendered


async def check_plugin_configs(config: GatewayConfig, context: str = "") -> None:
    """Raise ConfigInvalid with every plugin's own errors (``config`` has concrete values)."""
    if not config.plugins:
        return
    errors = await validate_plugin_configs(config, timeout=PLUGIN_VALIDATION_TIMEOUT)
    if errors:
        raise ConfigInvalid([ConfigError(path, message + context) for path, message in errors])


def _defaults_rendering(config: GatewayConfig) -> GatewayConfig | None:
    """The config with default variable values, or None when some have no default."""
    try:
        return render_defaults(config)
    except ConfigInvalid:
        return None


class Operations:
    """The control plane's operations over a :class:`Store`."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def apply_text(self, text: str | bytes, *, fmt: ConfigFormat | None, author: str,
                         message: str) -> ApplyResult:
        config = await asyncio.to_thread(prepare_text, text, fmt=fmt)
        return await self._create(config, author=author, message=message)

    async def apply_dict(self, data: object, *, author: str, message: str) -> ApplyResult:
        config = await asyncio.to_thread(lambda: prepare_config(config_from_dict(data)))
        return await self._create(config, author=author, message=message)

    async def _create(self, config: GatewayConfig, *, author: str, message: str) -> ApplyResult:
        # Plugin endpoints that use stage variables without defaults are checked at deploy.
        rendered = await asyncio.to_thread(_defaults_rendering, config)
        if rendered is not None:
            await check_plugin_configs(rendered)
        return await self.store.create_version(config, author=author, message=message)

    async def _check_version_for_stage(self, number: int, stage: str) -> None:
        version = await self.store.get_version(number)
        rendered = await asyncio.to_thread(check_stage_rendering, version.config, stage)
        await check_plugin_configs(rendered, f" (stage {stage!r})")

    async def deploy(self, stage: str, number: int, *, author: str, message: str) -> Deployment:
        await self._check_version_for_stage(number, stage)
        return await self.store.deploy(stage, number, author=author, message=message)

    async def promote(self, source: str, target: str, *, author: str,
                      message: str) -> Deployment:
        current = await self.store.get_stage(source)
        if current.version is not None and source != target:
            await self._check_version_for_stage(current.version, target)
        return await self.store.promote(source, target, author=author, message=message)

    async def rollback(self, stage: str, *, to_deployment: int | None, author: str,
                       message: str) -> Deployment:
        return await self.store.rollback(stage, to_deployment=to_deployment, author=author,
                                         message=message)

    async def diff(self, old: int, new: int) -> dict[str, object]:
        a, b = await asyncio.gather(self.store.get_version(old), self.store.get_version(new))
        changes = await asyncio.to_thread(diff_configs, a.config, b.config)
        return {"from": old, "to": new, "changes": changes}

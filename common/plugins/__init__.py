"""Talking to plugin services over gRPC, shared by the edge and the control plane.

- :mod:`.transport` — channels to a plugin's addresses, unary calls and the Exchange stream;
- :mod:`.validate` — ``ValidateConfig`` for every plugin instance of a config (apply time).
"""

from edgeway.common.plugins.validate import (
    PluginUnreachable,
    validate_config,
    validate_plugin_configs,
)

__all__ = ["PluginUnreachable", "validate_config", "validate_plugin_configs"]

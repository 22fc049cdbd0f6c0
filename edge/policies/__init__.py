"""Built-in policies: one subpackage per policy (schema + handler), found by the registry.

Only policies whose behaviour is implemented are here; today that is ``request-termination``.
See :mod:`.base` for what a policy package declares and :mod:`.registry` for how they load.
"""

from edgeway.edge.policies.base import LocalResponse, Phase, PolicyHandler, Request
from edgeway.edge.policies.registry import (
    PolicyLoadError,
    PolicyRegistry,
    PolicySpec,
    builtin_registry,
)

__all__ = [
    "LocalResponse",
    "Phase",
    "PolicyHandler",
    "PolicyLoadError",
    "PolicyRegistry",
    "PolicySpec",
    "Request",
    "builtin_registry",
]

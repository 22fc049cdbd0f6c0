"""Built-in policies: one subpackage per policy (schema + handler), found by the registry.

:mod:`.base` is the contract between policies and the data path (phases, the request view and
exchange, the response view, local answers, the handler's hooks and needs); :mod:`.services`
is what the edge lends them (Redis, HTTP, lasting state, owned tasks); :mod:`.chain` prepares
and runs a route's chain; :mod:`.registry` loads and checks the policy packages.
"""

from edgeway.edge.policies.base import (
    Exchange,
    LocalResponse,
    Outcome,
    Phase,
    PolicyHandler,
    Request,
    Response,
)
from edgeway.edge.policies.registry import (
    PolicyLoadError,
    PolicyRegistry,
    PolicySpec,
    builtin_registry,
)
from edgeway.edge.policies.services import Services

__all__ = [
    "Exchange",
    "LocalResponse",
    "Outcome",
    "Phase",
    "PolicyHandler",
    "PolicyLoadError",
    "PolicyRegistry",
    "PolicySpec",
    "Request",
    "Response",
    "Services",
    "builtin_registry",
]

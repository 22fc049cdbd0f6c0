"""The edge's pure compile step: a ``GatewayConfig`` to immutable routes, pools and chains.

No I/O, no sockets: this package is the only part of the edge the control plane imports, so
"accepted by apply" means "compiles on every edge".

- :func:`compile_config` validates a concrete config semantically and compiles it, raising
  ``ConfigInvalid`` with every error (each naming its path and the rule);
- :func:`check_config` returns the errors of a config that may hold stage variables, checking
  each stage's rendering;
- :class:`CompiledConfig` and the types it is made of (:mod:`.model`) are what the edge serves
  from; :mod:`.rules` lists the keywords and numeric bounds enforced.
"""

from edgeway.edge.compile.check import check_config
from edgeway.edge.compile.compiler import compile_config, compile_errors
from edgeway.edge.compile.model import (
    ActiveHealthCheck,
    CircuitBreakerSettings,
    CompiledConfig,
    CompiledConsumer,
    CompiledCredential,
    CompiledPlugin,
    CompiledRoute,
    CompiledTarget,
    CompiledUsagePlan,
    CredentialIndex,
    CredentialMatch,
    HostMatch,
    PassiveHealthCheck,
    PathPattern,
    PathSegment,
    PolicyStep,
    RetrySettings,
    RewriteTemplate,
    RouteMatch,
    TimeoutSettings,
    UpstreamPool,
    ValueMatch,
)
from edgeway.edge.policies.base import LocalResponse

__all__ = [
    "ActiveHealthCheck",
    "CircuitBreakerSettings",
    "CompiledConfig",
    "CompiledConsumer",
    "CompiledCredential",
    "CompiledPlugin",
    "CompiledRoute",
    "CompiledTarget",
    "CompiledUsagePlan",
    "CredentialIndex",
    "CredentialMatch",
    "HostMatch",
    "LocalResponse",
    "PassiveHealthCheck",
    "PathPattern",
    "PathSegment",
    "PolicyStep",
    "RetrySettings",
    "RewriteTemplate",
    "RouteMatch",
    "TimeoutSettings",
    "UpstreamPool",
    "ValueMatch",
    "check_config",
    "compile_config",
    "compile_errors",
]

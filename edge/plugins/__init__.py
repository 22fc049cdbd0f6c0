"""The edge's client of out-of-process plugins (services built with ``edgeway.sdk``).

- :class:`PluginClients`: the endpoints of a config by name (shared long-lived channels,
  calls multiplexed over the Exchange stream with unary fallback, deadlines, failure modes,
  circuit breakers, the verdict cache, batched OnLog);
- :class:`PluginInstance`: one policy entry naming a plugin, built once per config version;
- :class:`RequestOutcome` / :class:`ResponseOutcome`: what a call means for the request;
The gRPC transport and the apply-time ``ValidateConfig`` calls live in
:mod:`edgeway.common.plugins`, since the control plane uses them too.
"""

from edgeway.edge.plugins.clients import PluginClients
from edgeway.edge.plugins.endpoint import EndpointClient, EndpointStats
from edgeway.edge.plugins.guards import BreakerState
from edgeway.edge.plugins.logs import LogSettings
from edgeway.edge.plugins.outcome import (
    PROCEED,
    PluginInstance,
    RequestChanges,
    RequestOutcome,
    ResponseOutcome,
    failure_response,
)

__all__ = [
    "PROCEED",
    "BreakerState",
    "EndpointClient",
    "EndpointStats",
    "LogSettings",
    "PluginClients",
    "PluginInstance",
    "RequestChanges",
    "RequestOutcome",
    "ResponseOutcome",
    "failure_response",
]

"""Config discovery: the gRPC service that streams each stage's config to its edges.

- :func:`serve_discovery` / :class:`DiscoveryServer` — the ``ConfigDiscovery`` service of one
  control-plane replica (:mod:`.server`), one :class:`~.session.EdgeSession` per edge;
- :class:`~.hub.StageHub` — the stages from the store's watch, debounced per stage;
- :mod:`.payloads` — each (stage, version)'s push, built once and shared;
- :mod:`.registry` — the fleet registry in etcd (:func:`list_nodes`);
- :mod:`.admin` — ``GET /v1/nodes`` routes; :func:`render_status` — the ``edgeway status`` table.
"""

from edgeway.controlplane.discovery.registry import list_nodes
from edgeway.controlplane.discovery.server import (
    DiscoveryServer,
    DiscoverySettings,
    serve_discovery,
)
from edgeway.controlplane.discovery.session import SessionTimings
from edgeway.controlplane.discovery.status_view import render_status

__all__ = [
    "DiscoveryServer",
    "DiscoverySettings",
    "SessionTimings",
    "list_nodes",
    "render_status",
    "serve_discovery",
]

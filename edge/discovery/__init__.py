"""The edge's config discovery: the stream from the control plane and the disk cache.

- :class:`DiscoveryClient` — one stream to any listed control plane; applies pushes through a
  callback, answers Ack/Nack, sends heartbeats (:mod:`.client`);
- :class:`CachedConfig`, :func:`save_cached`, :func:`load_cached` — the last-known-good config
  on disk, written atomically and verified on load (:mod:`.cache`);
- :class:`Backoff` — full-jitter exponential backoff.
"""

from edgeway.edge.discovery.backoff import Backoff
from edgeway.edge.discovery.cache import CachedConfig
from edgeway.edge.discovery.cache import load as load_cached
from edgeway.edge.discovery.cache import save as save_cached
from edgeway.edge.discovery.client import Apply, Current, DiscoveryClient, Traffic
from edgeway.v1.discovery_pb2 import ConfigPush

__all__ = [
    "Apply",
    "Backoff",
    "CachedConfig",
    "ConfigPush",
    "Current",
    "DiscoveryClient",
    "Traffic",
    "load_cached",
    "save_cached",
]

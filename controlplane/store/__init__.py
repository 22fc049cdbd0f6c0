"""The versioned config store of the control plane: versions, stages and deployments in etcd.

:mod:`.api` defines the records, the errors and the abstract :class:`Store`; :mod:`.etcd`
implements it over etcd (its docstring has the key layout); :mod:`.client` is the typed,
failing-over etcd client underneath
(with leases and resumable watches).
"""

from edgeway.controlplane.store.api import (
    ApplyResult,
    Conflict,
    Deployment,
    InvalidName,
    NotFound,
    Stage,
    StageChanges,
    Store,
    StoreError,
    StoreUnavailable,
    Version,
    VersionMeta,
)
from edgeway.controlplane.store.etcd import EtcdStore

__all__ = [
    "ApplyResult",
    "Conflict",
    "Deployment",
    "EtcdStore",
    "InvalidName",
    "NotFound",
    "Stage",
    "StageChanges",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "Version",
    "VersionMeta",
]

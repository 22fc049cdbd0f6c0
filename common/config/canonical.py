"""Canonical serialization and content hash of a ``GatewayConfig``.

The canonical form is protobuf's deterministic binary encoding (fields in number order, map
entries sorted by key). It is what the store writes to etcd and what the hash covers, so a
config read back from etcd hashes equal to the one written, byte for byte.
"""

from __future__ import annotations

import hashlib

from edgeway.v1.config_pb2 import GatewayConfig

HASH_PREFIX = "sha256:"


def canonical_bytes(config: GatewayConfig) -> bytes:
    """The deterministic binary encoding of ``config``."""
    return config.SerializeToString(deterministic=True)


def hash_bytes(data: bytes) -> str:
    """Content hash of canonical bytes: ``"sha256:<64 hex digits>"``."""
    return HASH_PREFIX + hashlib.sha256(data).hexdigest()


def config_hash(config: GatewayConfig) -> str:
    """Content hash of ``config`` (see :func:`hash_bytes`)."""
    return hash_bytes(canonical_bytes(config))


def from_canonical(data: bytes) -> GatewayConfig:
    """Parse canonical bytes back into a ``GatewayConfig``."""
    config = GatewayConfig()
    config.ParseFromString(data)
    return config

"""The edge's last-known-good config on disk, so a restarted edge serves without a control plane.

One file, ``<data_dir>/last-known-good.config``: a JSON header line (format, stage, version,
hash, size, saved_at) and then the config's canonical bytes. Writing is atomic: a temporary
file in the same directory is written, fsynced and renamed over the old one (then the directory
is fsynced), so a reader sees the old file or the new one, never a part. Loading checks the
size and that the bytes hash to the recorded hash; a file that fails (truncated, corrupted,
tampered with) is logged and ignored, never served.

The async :func:`save` and :func:`load` run the blocking file I/O in a worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import structlog

from edgeway.common.config.canonical import canonical_bytes, from_canonical, hash_bytes
from edgeway.v1.config_pb2 import GatewayConfig
from edgeway.v1.discovery_pb2 import ConfigPush

__all__ = ["CACHE_FILE", "CachedConfig", "load", "load_sync", "save", "save_sync"]

log = structlog.get_logger(__name__)

CACHE_FILE = "last-known-good.config"
FORMAT = 1


@dataclass(frozen=True, slots=True)
class CachedConfig:
    """A config as the edge ran it: its stage, version, hash and canonical bytes."""

    stage: str
    version: int
    hash: str  # "sha256:<hex>" of ``data``
    data: bytes

    @classmethod
    def from_push(cls, push: ConfigPush) -> CachedConfig:
        """The push's config in canonical form (CPU work: a thread for big configs)."""
        data = canonical_bytes(push.config)
        return cls(push.stage, push.version, hash_bytes(data), data)

    def config(self) -> GatewayConfig:
        return from_canonical(self.data)


async def save(data_dir: str | os.PathLike[str], item: CachedConfig | ConfigPush) -> Path:
    """Write ``item`` atomically as the last-known-good config; returns the file's path."""
    return await asyncio.to_thread(save_sync, data_dir, item)


async def load(data_dir: str | os.PathLike[str]) -> CachedConfig | None:
    """The cached config, or None when there is none or it does not verify (logged)."""
    return await asyncio.to_thread(load_sync, data_dir)


def save_sync(data_dir: str | os.PathLike[str], item: CachedConfig | ConfigPush) -> Path:
    cached = item if isinstance(item, CachedConfig) else CachedConfig.from_push(item)
    if hash_bytes(cached.data) != cached.hash:
        raise ValueError(f"refusing to cache a config whose bytes do not hash to {cached.hash}")
    directory = Path(data_dir)
    directory.mkdir(parents=True, exist_ok=True)
    header = {"format": FORMAT, "stage": cached.stage, "version": cached.version,
              "hash": cached.hash, "size": len(cached.data), "saved_at": time.time()}
    target = directory / CACHE_FILE
    fd, temp = tempfile.mkstemp(dir=directory, prefix=f".{CACHE_FILE}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(json.dumps(header, sort_keys=True).encode() + b"\n")
            out.write(cached.data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    _fsync_dir(directory)
    return target


def load_sync(data_dir: str | os.PathLike[str]) -> CachedConfig | None:
    path = Path(data_dir) / CACHE_FILE
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        log.error("cannot read the cached config", path=str(path), error=str(exc))
        return None
    try:
        return _parse(raw)
    except ValueError as exc:
        log.error("ignoring a corrupt cached config", path=str(path), reason=str(exc))
        return None


def _parse(raw: bytes) -> CachedConfig:
    head, newline, data = raw.partition(b"\n")
    if not newline:
        raise ValueError("no header line")
    try:
        header = json.loads(head)
    except ValueError:
        raise ValueError("the header is not JSON") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ValueError(f"unknown format (expected {FORMAT})")
    stage, version, digest, size = (header.get(k) for k in ("stage", "version", "hash", "size"))
    if not (isinstance(stage, str) and isinstance(version, int) and isinstance(digest, str)
            and isinstance(size, int)):
        raise ValueError("the header lacks stage, version, hash or size")
    if len(data) != size:
        raise ValueError(f"{len(data)} bytes of config where the header says {size}")
    actual = hash_bytes(data)
    if actual != digest:
        raise ValueError(f"the config hashes to {actual}, not {digest}")
    return CachedConfig(stage, version, digest, data)


def _fsync_dir(directory: Path) -> None:
    """Make the rename durable (not every platform can open a directory; then skip)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)

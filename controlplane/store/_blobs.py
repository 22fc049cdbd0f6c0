"""A config's bytes on their way into and out of etcd: canonical form, zlib, chunks, checks.

Writing: canonical bytes (what the version hash covers) are zlib-compressed and cut into
chunks of at most ``chunk_size`` bytes; each chunk is stored under the sha256 of its own bytes,
so a chunk key never holds two different values (whatever the chunk size or zlib build of the
writer) and one request never carries more than one chunk. Reading checks, in order: every
listed chunk is present, each matches its digest, the whole decompresses, and the result hashes
to the version's hash. Any failure is a :class:`StoreError` naming the version.

CPU work on more than :data:`LARGE` bytes runs in a worker thread (:func:`offload`).
"""

from __future__ import annotations

import asyncio
import hashlib
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

from edgeway.common.config.canonical import canonical_bytes, from_canonical, hash_bytes
from edgeway.controlplane.store.api import StoreError
from edgeway.v1.config_pb2 import GatewayConfig

LARGE = 256 * 1024
ZLIB_LEVEL = 6

P = ParamSpec("P")
R = TypeVar("R")


async def offload(size: int, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """Run ``fn`` in a worker thread when it works on ``size`` > :data:`LARGE` bytes."""
    if size > LARGE:
        return await asyncio.to_thread(fn, *args, **kwargs)
    return fn(*args, **kwargs)


@dataclass(frozen=True, slots=True)
class Canonical:
    data: bytes
    hash: str


def canonicalize(config: GatewayConfig) -> Canonical:
    """Canonical bytes and their hash (CPU-bound: callers run it in a thread)."""
    data = canonical_bytes(config)
    return Canonical(data, hash_bytes(data))


@dataclass(frozen=True, slots=True)
class Chunk:
    digest: str  # sha256 hex of ``data``
    data: bytes


@dataclass(frozen=True, slots=True)
class Packed:
    chunks: tuple[Chunk, ...]
    stored_size: int


def pack(data: bytes, chunk_size: int) -> Packed:
    """Compress ``data`` and cut it into content-addressed chunks."""
    compressed = zlib.compress(data, ZLIB_LEVEL)
    pieces = [compressed[i : i + chunk_size] for i in range(0, len(compressed), chunk_size)]
    chunks = tuple(Chunk(hashlib.sha256(p).hexdigest(), p) for p in pieces)
    return Packed(chunks, len(compressed))


def unpack(
    what: str, digests: Sequence[str], pieces: Sequence[bytes | None], expected_hash: str
) -> GatewayConfig:
    """Verify and reassemble the chunks of ``what`` (e.g. "version 7") and parse the config."""
    count = len(digests)
    if len(pieces) != count:
        raise StoreError(f"{what} is corrupt: read {len(pieces)} of its {count} chunks")
    for index, (digest, piece) in enumerate(zip(digests, pieces, strict=True), start=1):
        if piece is None:
            raise StoreError(f"{what} is corrupt: chunk {index} of {count} ({digest}) is missing")
        if hashlib.sha256(piece).hexdigest() != digest:
            raise StoreError(
                f"{what} is corrupt: chunk {index} of {count} ({digest}) does not match its digest"
            )
    try:
        data = zlib.decompress(b"".join(p for p in pieces if p is not None))
    except zlib.error as exc:
        raise StoreError(f"{what} is corrupt: its chunks do not decompress ({exc})") from None
    actual = hash_bytes(data)
    if actual != expected_hash:
        raise StoreError(f"{what} is corrupt: its config hashes to {actual}, not {expected_hash}")
    try:
        return from_canonical(data)
    except Exception as exc:  # protobuf's DecodeError and friends
        raise StoreError(f"{what} is corrupt: its config does not parse ({exc})") from None

"""Large configs against a real etcd: chunked under the request limit, verified when read."""

from __future__ import annotations

import json
import zlib
from collections.abc import AsyncIterator

import pytest

from edgeway.common.config.canonical import canonical_bytes, config_hash
from edgeway.controlplane.etcd_server import EmbeddedEtcd
from edgeway.controlplane.store import EtcdStore, StoreError
from edgeway.controlplane.store.client import EtcdClient
from edgeway.v1.config_pb2 import GatewayConfig
from tests.conftest import EtcdKeys
from tests.store.configs import big_config, small_config

ETCD_REQUEST_LIMIT = 1536 * 1024  # etcd's default --max-request-bytes


@pytest.fixture(scope="module")
def huge() -> GatewayConfig:
    return big_config(routes=10_000, consumers=10_000)


async def test_a_config_of_ten_thousand_routes_and_consumers_round_trips_byte_for_byte(
    store: EtcdStore,
    huge: GatewayConfig,
    etcd_server: EmbeddedEtcd,
    etcd_prefix: str,
    etcd_keys: EtcdKeys,
) -> None:
    expected = canonical_bytes(huge)

    applied = await store.create_version(huge, author="ci", message="big")

    chunks = await etcd_keys(etcd_prefix + "/chunks/")
    assert len(chunks) > 1
    assert all(len(v) <= 1024 * 1024 for v in chunks.values())
    async with EtcdStore([etcd_server.endpoint], prefix=etcd_prefix) as fresh:  # nothing cached
        version = await fresh.get_version(applied.version.number)
    assert canonical_bytes(version.config) == expected
    assert version.meta.hash == config_hash(version.config) == config_hash(huge)
    assert version.meta.size == len(expected)
    assert len(version.config.routes) == len(version.config.consumers) == 10_000


async def test_the_big_config_could_not_be_stored_as_one_value(
    huge: GatewayConfig, etcd_client: EtcdClient, etcd_prefix: str
) -> None:
    """Shows that chunking is needed: etcd refuses the compressed config as a single value."""
    compressed = zlib.compress(canonical_bytes(huge))
    assert len(compressed) > ETCD_REQUEST_LIMIT

    with pytest.raises(StoreError):
        await etcd_client.put(f"{etcd_prefix}/one-value".encode(), compressed)


@pytest.fixture
async def chunky(etcd_server: EmbeddedEtcd, etcd_prefix: str) -> AsyncIterator[EtcdStore]:
    """A store with the smallest chunks, so a small config spans several of them."""
    async with EtcdStore([etcd_server.endpoint], prefix=etcd_prefix, chunk_size=1024) as store:
        yield store


async def _chunk_keys(client: EtcdClient, prefix: str, number: int) -> list[bytes]:
    record = await client.get(f"{prefix}/versions/{number:010d}".encode())
    assert record is not None
    return [f"{prefix}/chunks/{d}".encode() for d in json.loads(record.value)["chunks"]]


async def test_a_tampered_chunk_fails_the_read_naming_the_version(
    chunky: EtcdStore, etcd_client: EtcdClient, etcd_prefix: str
) -> None:
    await chunky.create_version(big_config(routes=40, consumers=20), author="ci", message="v1")
    keys = await _chunk_keys(etcd_client, etcd_prefix, 1)
    assert len(keys) >= 3
    original = await etcd_client.get(keys[1])
    assert original is not None
    await etcd_client.put(keys[1], bytes([original.value[0] ^ 0xFF]) + original.value[1:])

    with pytest.raises(StoreError, match=rf"^version 1 is corrupt: chunk 2 of {len(keys)} "):
        await chunky.get_version(1)
    assert (await chunky.get_version_meta(1)).number == 1  # the metadata still reads


async def test_a_missing_chunk_fails_the_read_naming_the_version(
    chunky: EtcdStore, etcd_client: EtcdClient, etcd_prefix: str
) -> None:
    await chunky.create_version(big_config(routes=40, consumers=20), author="ci", message="v1")
    keys = await _chunk_keys(etcd_client, etcd_prefix, 1)
    assert await etcd_client.delete_prefix(keys[-1]) == 1

    with pytest.raises(StoreError, match=rf"^version 1 is corrupt: chunk {len(keys)} .* missing"):
        await chunky.get_version(1)


async def test_a_version_whose_recorded_hash_is_wrong_fails_the_read(
    store: EtcdStore, etcd_client: EtcdClient, etcd_prefix: str
) -> None:
    await store.create_version(small_config(1), author="ci", message="v1")
    key = f"{etcd_prefix}/versions/{1:010d}".encode()
    found = await etcd_client.get(key)
    assert found is not None
    record = json.loads(found.value)
    record["hash"] = config_hash(small_config(2))
    await etcd_client.put(key, json.dumps(record).encode())

    with pytest.raises(StoreError, match=r"^version 1 is corrupt: its config hashes to sha256:"):
        await store.get_version(1)


@pytest.mark.parametrize("chunk_size", [0, 1023, 1536 * 1024])
def test_a_chunk_size_outside_what_etcd_accepts_is_refused(chunk_size: int) -> None:
    with pytest.raises(ValueError, match="chunk_size must be"):
        EtcdStore(["127.0.0.1:2379"], chunk_size=chunk_size)

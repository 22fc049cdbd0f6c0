"""Versions against a real etcd: numbering under concurrency, no-op applies, reading, paging."""

from __future__ import annotations

import asyncio
import re

import pytest

from edgeway.common.config.canonical import canonical_bytes, config_hash
from edgeway.controlplane.store import EtcdStore, NotFound
from tests.conftest import EtcdKeys
from tests.store.configs import small_config


async def test_twenty_concurrent_applies_get_numbers_one_to_twenty_without_gaps(
    store: EtcdStore,
) -> None:
    configs = [small_config(n) for n in range(20)]
    results = await asyncio.gather(
        *(store.create_version(c, author="ci", message=f"config {n}")
          for n, c in enumerate(configs))
    )

    assert all(r.created for r in results)
    assert sorted(r.version.number for r in results) == list(range(1, 21))
    listed = await store.list_versions(limit=50)
    assert [m.number for m in listed] == list(range(20, 0, -1))
    assert [m.parent for m in listed] == [*range(19, 0, -1), None]
    for n, result in enumerate(results):  # each number holds the config that was given it
        version = await store.get_version(result.version.number)
        assert version.meta.message == f"config {n}"
        assert canonical_bytes(version.config) == canonical_bytes(configs[n])


async def test_applying_the_latest_config_again_creates_nothing(
    store: EtcdStore, etcd_keys: EtcdKeys, etcd_prefix: str
) -> None:
    first = await store.create_version(small_config(1), author="ann", message="first")
    before = await etcd_keys(etcd_prefix)

    again = await store.create_version(small_config(1), author="bob", message="same again")

    assert (first.created, again.created) == (True, False)
    assert again.version == first.version  # the existing version, with its author and message
    assert await etcd_keys(etcd_prefix) == before


async def test_a_config_equal_to_an_older_version_but_not_the_latest_is_a_new_version(
    store: EtcdStore,
) -> None:
    await store.create_version(small_config(1), author="ann", message="a")
    await store.create_version(small_config(2), author="ann", message="b")

    back = await store.create_version(small_config(1), author="ann", message="a again")

    assert back.created
    assert (back.version.number, back.version.parent) == (3, 2)
    assert back.version.hash == (await store.get_version_meta(1)).hash


async def test_concurrent_applies_of_one_config_create_exactly_one_version(
    store: EtcdStore,
) -> None:
    results = await asyncio.gather(
        *(store.create_version(small_config(5), author="ci", message=str(i)) for i in range(8))
    )

    assert sum(r.created for r in results) == 1
    assert {r.version.number for r in results} == {1}
    assert [m.number for m in await store.list_versions()] == [1]


async def test_a_version_reads_back_with_its_metadata_and_config(store: EtcdStore) -> None:
    assert await store.latest_version() is None
    config = small_config(3)

    applied = await store.create_version(config, author="ann", message="add users route")

    version = await store.get_version(1)
    assert version.meta == applied.version == await store.latest_version()
    assert version.meta.hash == config_hash(config)
    assert version.meta.size == len(canonical_bytes(config))
    assert canonical_bytes(version.config) == canonical_bytes(config)
    info = version.meta.as_dict()
    assert set(info) == {"number", "hash", "parent", "author", "message", "created_at", "size"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", str(info["created_at"]))


@pytest.mark.parametrize("number", [0, -1, 2, 10**12])
async def test_an_unknown_version_number_is_not_found(store: EtcdStore, number: int) -> None:
    await store.create_version(small_config(1), author="ann", message="only one")

    with pytest.raises(NotFound, match=f"^version {number} not found$"):
        await store.get_version(number)
    with pytest.raises(NotFound, match=f"^version {number} not found$"):
        await store.get_version_meta(number)


async def test_list_versions_pages_newest_first_by_limit_and_before(store: EtcdStore) -> None:
    assert await store.list_versions() == []
    for n in range(7):
        await store.create_version(small_config(n), author="ci", message=str(n))

    async def page(limit: int, before: int | None = None) -> list[int]:
        return [m.number for m in await store.list_versions(limit=limit, before=before)]

    assert await page(3) == [7, 6, 5]
    assert await page(3, before=5) == [4, 3, 2]
    assert await page(3, before=2) == [1]
    assert await page(3, before=1) == []
    assert await page(2, before=1000) == [7, 6]
    assert await page(50) == [7, 6, 5, 4, 3, 2, 1]
    with pytest.raises(ValueError, match="limit"):
        await store.list_versions(limit=0)

"""Stages against a real etcd: deploy, promote, rollback, their histories, races and restarts."""

from __future__ import annotations

import asyncio
import itertools
import random
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

import pytest

from edgeway.controlplane.etcd_server import EmbeddedEtcd
from edgeway.controlplane.store import Conflict, Deployment, EtcdStore, Stage
from edgeway.controlplane.store.client import KeyValue
from tests.conftest import EtcdKeys
from tests.store.configs import small_config


async def _versions(store: EtcdStore, count: int) -> None:
    for n in range(1, count + 1):
        await store.create_version(small_config(n), author="ci", message=f"v{n}")


def _moves(records: list[Deployment]) -> list[tuple[int, str, int | None, int]]:
    return [(d.id, d.action, d.previous_version, d.version) for d in records]


async def test_deploy_promote_and_rollback_are_recorded_newest_first(store: EtcdStore) -> None:
    await _versions(store, 3)
    await store.deploy("dev", 1, author="ann", message="first")
    await store.deploy("dev", 2, author="ann", message="second")
    promoted = await store.promote("dev", "staging", author="bob", message="ship 2")
    await store.deploy("dev", 3, author="ann", message="third")
    back = await store.rollback("dev", author="cat", message="3 is broken")
    back_to_first = await store.rollback("dev", to_deployment=1, author="cat", message="to 1")

    assert _moves(await store.history("dev")) == [
        (5, "rollback", 2, 1),
        (4, "rollback", 3, 2),
        (3, "deploy", 2, 3),
        (2, "deploy", 1, 2),
        (1, "deploy", None, 1),
    ]
    assert (back.rollback_to, back_to_first.rollback_to) == (2, 1)
    assert (promoted.action, promoted.source_stage, promoted.version) == ("promote", "dev", 2)
    assert await store.history("staging") == [promoted]
    dev = await store.get_stage("dev")
    assert (dev.version, dev.deployment) == (1, 5)
    assert dev.updated_at == back_to_first.created_at >= dev.created_at
    assert [(s.name, s.version) for s in await store.list_stages()] == [("dev", 1), ("staging", 2)]
    assert set(back.as_dict()) == {
        "id", "stage", "action", "version", "previous_version", "author", "message",
        "created_at", "source_stage", "rollback_to",
    }


async def test_history_pages_newest_first_by_limit_and_before(store: EtcdStore) -> None:
    await _versions(store, 2)
    for n in range(6):
        await store.deploy("dev", n % 2 + 1, author="ci", message=str(n))

    async def ids(limit: int, before: int | None = None) -> list[int]:
        return [d.id for d in await store.history("dev", limit=limit, before=before)]

    assert await ids(4) == [6, 5, 4, 3]
    assert await ids(4, before=3) == [2, 1]
    assert await ids(4, before=1) == []
    assert await ids(2, before=99) == [6, 5]


async def test_a_created_stage_is_empty_until_its_first_deployment(store: EtcdStore) -> None:
    await _versions(store, 1)

    created = await store.create_stage("qa", author="ann")

    assert (created.name, created.version, created.deployment) == ("qa", None, None)
    assert await store.get_stage("qa") == created
    assert await store.history("qa") == []
    first = await store.deploy("qa", 1, author="ann", message="go")
    assert (first.id, first.previous_version) == (1, None)
    assert (await store.get_stage("qa")).created_at == created.created_at
    with pytest.raises(Conflict, match=r"^stage 'qa' already exists$"):
        await store.create_stage("qa", author="bob")


async def test_stages_and_histories_survive_a_control_plane_restart(
    etcd_server: EmbeddedEtcd, etcd_prefix: str
) -> None:
    first = await EtcdStore.connect([etcd_server.endpoint], prefix=etcd_prefix)
    await _versions(first, 2)
    await first.deploy("dev", 1, author="ann", message="one")
    await first.deploy("dev", 2, author="ann", message="two")
    await first.promote("dev", "prod", author="ann", message="ship")
    await first.rollback("dev", author="ann", message="undo")
    stages, dev_history = await first.list_stages(), await first.history("dev")
    prod_history = await first.history("prod")
    await first.close()

    async with await EtcdStore.connect([etcd_server.endpoint], prefix=etcd_prefix) as second:
        assert await second.list_stages() == stages
        assert await second.history("dev") == dev_history
        assert await second.history("prod") == prod_history
        applied = await second.create_version(small_config(3), author="ann", message="three")
        assert (applied.version.number, applied.version.parent) == (3, 2)
        next_deploy = await second.deploy("dev", 3, author="ann", message="three")
        assert (next_deploy.id, next_deploy.previous_version) == (4, 1)


async def test_racing_deploys_to_one_stage_either_succeed_or_conflict_and_lose_nothing(
    store: EtcdStore,
) -> None:
    await _versions(store, 4)
    await store.deploy("prod", 1, author="ci", message="baseline")

    outcomes = await asyncio.gather(
        *(store.deploy("prod", n % 4 + 1, author=f"op{n}", message=str(n)) for n in range(12)),
        return_exceptions=True,
    )

    wins = [o for o in outcomes if isinstance(o, Deployment)]
    conflicts = [o for o in outcomes if isinstance(o, Conflict)]
    assert len(wins) + len(conflicts) == 12
    assert wins
    for conflict in conflicts:
        assert re.fullmatch(
            r"stage 'prod' changed while deploying \(now at deployment \d+\); retry", str(conflict)
        )
    history = await store.history("prod", limit=100)
    assert len(history) == 1 + len(wins)
    assert sorted(wins, key=lambda d: d.id) == sorted(history[:-1], key=lambda d: d.id)
    _assert_chained(history, await store.get_stage("prod"))


async def test_racing_deploys_that_retry_on_conflict_all_land_once(store: EtcdStore) -> None:
    await _versions(store, 3)

    async def deploy_until_it_lands(n: int) -> Deployment:
        while True:
            try:
                return await store.deploy("prod", n % 3 + 1, author=f"op{n}", message=str(n))
            except Conflict:
                await asyncio.sleep(random.uniform(0, 0.01))

    landed = await asyncio.gather(*(deploy_until_it_lands(n) for n in range(10)))

    history = await store.history("prod", limit=100)
    assert sorted(d.id for d in landed) == list(range(1, 11))
    assert sorted(d.message for d in history) == sorted(str(n) for n in range(10))
    _assert_chained(history, await store.get_stage("prod"))


@pytest.fixture
async def other_replica(etcd_server: EmbeddedEtcd, etcd_prefix: str) -> AsyncIterator[EtcdStore]:
    """A second control-plane replica on the same prefix."""
    async with await EtcdStore.connect([etcd_server.endpoint], prefix=etcd_prefix) as other:
        yield other


def _after_the_next_read(
    store: EtcdStore, monkeypatch: pytest.MonkeyPatch, meanwhile: Callable[[], Awaitable[object]]
) -> None:
    """Run ``meanwhile`` right after ``store`` reads the state it is about to change."""
    read = store._client.read

    async def read_then_lose_the_race(keys: Sequence[bytes]) -> tuple[KeyValue | None, ...]:
        seen = await read(keys)
        monkeypatch.undo()
        await meanwhile()
        return seen

    monkeypatch.setattr(store._client, "read", read_then_lose_the_race)


async def test_a_deploy_that_loses_a_race_raises_conflict_and_writes_nothing(
    store: EtcdStore,
    other_replica: EtcdStore,
    etcd_prefix: str,
    etcd_keys: EtcdKeys,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await _versions(store, 2)
    await store.deploy("prod", 1, author="ann", message="one")
    _after_the_next_read(
        store, monkeypatch, lambda: other_replica.deploy("prod", 2, author="bob", message="fast")
    )
    with pytest.raises(Conflict) as raised:
        await store.deploy("prod", 1, author="ann", message="slower")

    assert str(raised.value) == "stage 'prod' changed while deploying (now at deployment 2); retry"
    assert _moves(await store.history("prod")) == [(2, "deploy", 1, 2), (1, "deploy", None, 1)]
    assert len(await etcd_keys(f"{etcd_prefix}/deployments/")) == 2


async def test_a_promote_whose_source_moves_meanwhile_raises_conflict_and_writes_nothing(
    store: EtcdStore,
    other_replica: EtcdStore,
    etcd_prefix: str,
    etcd_keys: EtcdKeys,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await _versions(store, 2)
    await store.deploy("dev", 1, author="ann", message="one")
    _after_the_next_read(
        store, monkeypatch, lambda: other_replica.deploy("dev", 2, author="bob", message="two")
    )
    with pytest.raises(Conflict) as raised:
        await store.promote("dev", "prod", author="ann", message="ship 1")

    assert str(raised.value) == (
        "stage 'dev' changed while promoting it to 'prod' (now at deployment 2); retry"
    )
    assert [s.name for s in await store.list_stages()] == ["dev"]
    assert len(await etcd_keys(f"{etcd_prefix}/deployments/")) == 2


def _assert_chained(history: list[Deployment], stage: Stage) -> None:
    """Ids run 1..n without gaps and each record starts where the one before it ended."""
    oldest_first = list(reversed(history))
    assert [d.id for d in oldest_first] == list(range(1, len(history) + 1))
    for before, after in itertools.pairwise(oldest_first):
        assert after.previous_version == before.version
    assert (stage.version, stage.deployment) == (history[0].version, history[0].id)

"""Every bad request raises a clear store error and leaves etcd exactly as it was."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from edgeway.controlplane.store import (
    Conflict,
    EtcdStore,
    InvalidName,
    NotFound,
    StoreError,
)
from edgeway.controlplane.store.api import STAGE_NAME_RULE
from tests.conftest import EtcdKeys
from tests.store.configs import small_config

Call = Callable[[EtcdStore], Awaitable[object]]

BAD_NAMES = ["", "Prod", "1st", "-dev", "dev_1", "dev/x", "dev x", "dev\n", "dév", "a" * 33]


@pytest.fixture
async def baseline(store: EtcdStore, etcd_keys: EtcdKeys, etcd_prefix: str) -> dict[bytes, bytes]:
    """Versions 1 and 2; 'dev' deployed once (version 1); 'qa' created, never deployed."""
    for n in (1, 2):
        await store.create_version(small_config(n), author="ci", message=f"v{n}")
    await store.deploy("dev", 1, author="ci", message="first")
    await store.create_stage("qa", author="ci")
    return await etcd_keys(etcd_prefix)


CASES: list[tuple[str, Call, type[StoreError], str]] = [
    ("deploy an unknown version", lambda s: s.deploy("dev", 99, author="x", message=""),
     NotFound, "version 99 not found"),
    ("deploy version zero", lambda s: s.deploy("dev", 0, author="x", message=""),
     NotFound, "version 0 not found"),
    ("deploy an unknown version to a new stage",
     lambda s: s.deploy("new", 7, author="x", message=""), NotFound, "version 7 not found"),
    ("get an unknown version", lambda s: s.get_version(3), NotFound, "version 3 not found"),
    ("get an unknown stage", lambda s: s.get_stage("prod"), NotFound, "stage 'prod' not found"),
    ("promote from an unknown stage", lambda s: s.promote("nope", "prod", author="x", message=""),
     NotFound, "stage 'nope' not found"),
    ("promote from a stage never deployed",
     lambda s: s.promote("qa", "prod", author="x", message=""),
     NotFound, "stage 'qa' has no deployed version to promote"),
    ("promote a stage to itself", lambda s: s.promote("dev", "dev", author="x", message=""),
     InvalidName, "cannot promote a stage to itself"),
    ("roll back an unknown stage", lambda s: s.rollback("nope", author="x", message=""),
     NotFound, "stage 'nope' not found"),
    ("roll back the first deployment", lambda s: s.rollback("dev", author="x", message=""),
     NotFound, "stage 'dev' has nothing to roll back to: deployment 1 is its first"),
    ("roll back a stage never deployed", lambda s: s.rollback("qa", author="x", message=""),
     NotFound, "stage 'qa' has nothing to roll back to: it was never deployed"),
    ("roll back to an unknown deployment",
     lambda s: s.rollback("dev", to_deployment=7, author="x", message=""),
     NotFound, "deployment 7 of stage 'dev' not found"),
    ("roll back to deployment zero",
     lambda s: s.rollback("dev", to_deployment=0, author="x", message=""),
     NotFound, "deployment 0 of stage 'dev' not found"),
    ("history of an unknown stage", lambda s: s.history("nope"), NotFound,
     "stage 'nope' not found"),
    ("create a stage that exists", lambda s: s.create_stage("dev", author="x"),
     Conflict, "stage 'dev' already exists"),
]


@pytest.mark.parametrize(("call", "error", "message"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
async def test_a_bad_request_raises_a_clear_error_and_changes_nothing(
    store: EtcdStore,
    baseline: dict[bytes, bytes],
    etcd_keys: EtcdKeys,
    etcd_prefix: str,
    call: Call,
    error: type[StoreError],
    message: str,
) -> None:
    with pytest.raises(error) as raised:
        await call(store)

    assert str(raised.value) == message
    assert await etcd_keys(etcd_prefix) == baseline


NAME_CALLS: list[tuple[str, Callable[[EtcdStore, str], Awaitable[object]]]] = [
    ("create_stage", lambda s, n: s.create_stage(n, author="x")),
    ("get_stage", lambda s, n: s.get_stage(n)),
    ("deploy", lambda s, n: s.deploy(n, 1, author="x", message="")),
    ("promote from", lambda s, n: s.promote(n, "dev", author="x", message="")),
    ("promote to", lambda s, n: s.promote("dev", n, author="x", message="")),
    ("rollback", lambda s, n: s.rollback(n, author="x", message="")),
    ("history", lambda s, n: s.history(n)),
]


@pytest.mark.parametrize("name", BAD_NAMES, ids=[repr(n) for n in BAD_NAMES])
async def test_an_invalid_stage_name_is_refused_with_the_rule_and_changes_nothing(
    store: EtcdStore, baseline: dict[bytes, bytes], etcd_keys: EtcdKeys, etcd_prefix: str,
    name: str,
) -> None:
    for operation, call in NAME_CALLS:
        with pytest.raises(InvalidName) as raised:
            await call(store, name)
        assert str(raised.value) == f"invalid stage name {name!r}: {STAGE_NAME_RULE}", operation

    assert await etcd_keys(etcd_prefix) == baseline


@pytest.mark.parametrize("name", ["a", "dev", "prod-eu-1", "s" + "x" * 31])
async def test_valid_stage_names_are_accepted(store: EtcdStore, name: str) -> None:
    assert (await store.create_stage(name, author="x")).name == name

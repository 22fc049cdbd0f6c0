"""Fixtures shared by the whole suite: one real etcd per session, a fresh prefix per test.

- ``etcd_server``: an :class:`EmbeddedEtcd` started once per session (real etcd on loopback);
- ``etcd_prefix``: a key prefix no other test uses, so tests never see each other's keys;
- ``store``: an :class:`EtcdStore` on that prefix, closed after the test;
- ``etcd_client``: raw, typed etcd access for assertions and for tampering with stored data;
- ``etcd_keys``: ``await etcd_keys(prefix)`` -> every key and value under ``prefix``, to show
  that a failed call left etcd unchanged.

``tests.support.controlplane`` (a real control-plane process per module) is registered as a
plugin here so every test folder can use its fixtures.
"""

from __future__ import annotations

import signal
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import pytest

from edgeway.controlplane.etcd_server import EmbeddedEtcd
from edgeway.controlplane.store import EtcdStore
from edgeway.controlplane.store.client import EtcdClient

pytest_plugins = ["tests.support.controlplane"]

EtcdKeys = Callable[[str], Awaitable[dict[bytes, bytes]]]


def pytest_configure(config: pytest.Config) -> None:
    """SIGTERM (a CI job's timeout, a ``kill``) ends the run as Ctrl-C does: pytest unwinds and
    every fixture stops the processes it started (etcd, Redis, control planes, edges, plugins)
    instead of leaving them running."""
    signal.signal(signal.SIGTERM, _interrupted)


def _interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@pytest.fixture(scope="session")
def etcd_server() -> Iterator[EmbeddedEtcd]:
    server = EmbeddedEtcd()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def etcd_prefix() -> str:
    return f"/edgeway-test/{uuid.uuid4().hex}"


@pytest.fixture
async def store(etcd_server: EmbeddedEtcd, etcd_prefix: str) -> AsyncIterator[EtcdStore]:
    opened = await EtcdStore.connect([etcd_server.endpoint], prefix=etcd_prefix)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture(scope="session")
async def etcd_client(etcd_server: EmbeddedEtcd) -> AsyncIterator[EtcdClient]:
    client = EtcdClient([etcd_server.endpoint])
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
def etcd_keys(etcd_client: EtcdClient) -> EtcdKeys:
    async def read(prefix: str) -> dict[bytes, bytes]:
        return {kv.key: kv.value for kv in await etcd_client.get_prefix(prefix.encode())}

    return read

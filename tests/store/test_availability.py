"""etcd out of reach: a clear StoreUnavailable within the deadline, and failover to a live one."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator

import pytest

from edgeway.controlplane.etcd_server import EmbeddedEtcd
from edgeway.controlplane.store import EtcdStore, StoreUnavailable
from edgeway.controlplane.store.client import parse_endpoint
from tests.store.configs import small_config


@pytest.fixture
def dead_endpoint() -> Iterator[str]:
    """A loopback port with nothing listening (bound, never listened on, so nobody takes it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"127.0.0.1:{sock.getsockname()[1]}"


async def test_connecting_to_a_closed_port_raises_store_unavailable_quickly(
    dead_endpoint: str,
) -> None:
    started = time.monotonic()
    with pytest.raises(StoreUnavailable, match=rf"etcd is unreachable \({dead_endpoint}: "):
        await EtcdStore.connect([dead_endpoint], timeout=2.0)
    assert time.monotonic() - started < 2.0


@pytest.fixture
def silent_endpoint() -> Iterator[str]:
    """A port that accepts connections (the kernel does the handshake) and never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield f"127.0.0.1:{sock.getsockname()[1]}"


async def test_an_endpoint_that_never_answers_costs_at_most_the_deadline(
    silent_endpoint: str,
) -> None:
    started = time.monotonic()
    with pytest.raises(StoreUnavailable, match=rf"etcd is unreachable \({silent_endpoint}: "):
        await EtcdStore.connect([silent_endpoint], timeout=0.5)
    assert time.monotonic() - started < 2.0


async def test_a_write_to_an_endpoint_that_never_answers_raises_store_unavailable(
    silent_endpoint: str,
) -> None:
    async with EtcdStore([silent_endpoint], timeout=0.5) as store:
        with pytest.raises(StoreUnavailable, match=silent_endpoint):
            await store.create_stage("dev", author="x")


async def test_every_operation_on_an_unreachable_etcd_raises_store_unavailable(
    dead_endpoint: str,
) -> None:
    async with EtcdStore([dead_endpoint], timeout=1.0) as store:
        with pytest.raises(StoreUnavailable):
            await store.create_version(small_config(1), author="x", message="")
        with pytest.raises(StoreUnavailable):
            await store.deploy("dev", 1, author="x", message="")
        with pytest.raises(StoreUnavailable):
            await store.list_stages()


async def test_a_dead_first_endpoint_fails_over_to_the_live_one(
    dead_endpoint: str, etcd_server: EmbeddedEtcd, etcd_prefix: str
) -> None:
    endpoints = [dead_endpoint, etcd_server.url]  # both forms: host:port and http://host:port

    async with await EtcdStore.connect(endpoints, prefix=etcd_prefix, timeout=2.0) as store:
        applied = await store.create_version(small_config(1), author="x", message="")
        await store.deploy("dev", applied.version.number, author="x", message="")
        assert (await store.get_stage("dev")).version == 1
        assert store.endpoints == (dead_endpoint, etcd_server.endpoint)


async def test_a_store_whose_etcd_goes_away_raises_store_unavailable() -> None:
    async with EmbeddedEtcd() as etcd:
        endpoint = etcd.endpoint
        store = await EtcdStore.connect([endpoint], timeout=2.0)
        await store.create_version(small_config(1), author="x", message="")
    try:
        started = time.monotonic()
        with pytest.raises(StoreUnavailable, match=endpoint):
            await store.get_version(1)
        assert time.monotonic() - started < 4.0
    finally:
        await store.close()


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("127.0.0.1:2379", ("127.0.0.1", 2379)),
        ("http://etcd-0.etcd:2379", ("etcd-0.etcd", 2379)),
        ("[::1]:2379", ("::1", 2379)),
        (" localhost:12379 ", ("localhost", 12379)),
    ],
)
def test_endpoints_are_host_port_or_http_urls(text: str, parsed: tuple[str, int]) -> None:
    assert parse_endpoint(text) == parsed


@pytest.mark.parametrize(
    "text", ["https://etcd:2379", "etcd", "etcd:port", "http://etcd:2379/v3", ""]
)
def test_malformed_endpoints_are_refused_by_name(text: str) -> None:
    with pytest.raises(ValueError, match="etcd endpoint"):
        parse_endpoint(text)


class _Relay:
    """A TCP relay to etcd that can be cut, like a member or a network path going away."""

    def __init__(self, target: str) -> None:
        self._host, port = target.rsplit(":", 1)
        self._port = int(port)
        self._writers: list[asyncio.StreamWriter] = []
        self._server: asyncio.Server | None = None

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return f"127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(self._host, self._port)
        self._writers += [writer, up_writer]
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    async def cut(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()
        await self._server.wait_closed()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


async def test_when_the_endpoint_in_use_goes_away_calls_move_to_the_next_one(
    etcd_server: EmbeddedEtcd, etcd_prefix: str
) -> None:
    relay = _Relay(etcd_server.endpoint)
    via_relay = await relay.start()
    async with await EtcdStore.connect(
        [via_relay, etcd_server.endpoint], prefix=etcd_prefix, timeout=2.0
    ) as store:
        await store.create_version(small_config(1), author="x", message="through the relay")
        await relay.cut()

        applied = await store.create_version(small_config(2), author="x", message="direct")
        assert applied.version.number == 2
        assert [m.number for m in await store.list_versions()] == [2, 1]

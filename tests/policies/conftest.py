"""Fixtures of the policy tests: one real Redis server and one echo upstream per session.

- ``redis_server``: an :class:`EmbeddedRedis` (real ``redis-server`` on loopback; the session
  fails loudly when the binary is missing);
- ``redis_url``: its URL, the database flushed before each test;
- ``redis_services``: edge :class:`Services` with a Redis client on that server, closed after;
- ``echo_port``: a real echo upstream process (what the edge processes here proxy to).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from redis.asyncio import Redis

from edgeway.edge.policies.services import Services
from tests.support.redis import EmbeddedRedis
from tests.support.upstream import UpstreamProcess


@pytest.fixture(scope="session")
def redis_server() -> Iterator[EmbeddedRedis]:
    with EmbeddedRedis() as server:
        yield server


@pytest.fixture
async def redis_url(redis_server: EmbeddedRedis) -> str:
    client = Redis.from_url(redis_server.url)
    try:
        await client.flushdb()
    finally:
        await client.aclose()
    return redis_server.url


@pytest.fixture
async def redis_services(redis_url: str) -> AsyncIterator[Services]:
    services = Services(redis_url=redis_url)
    try:
        yield services
    finally:
        await services.aclose()


@pytest.fixture(scope="session")
def echo_port() -> Iterator[int]:
    """A real echo upstream process (``tests.support.upstream``) for the edge tests here."""
    process = UpstreamProcess()
    try:
        yield process.start()
    finally:
        process.stop()

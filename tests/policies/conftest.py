"""Fixtures of the Redis-backed and JWKS policy tests: one real Redis server per session.

- ``redis_server``: an :class:`EmbeddedRedis` (real ``redis-server`` on loopback; the session
  fails loudly when the binary is missing);
- ``redis_url``: its URL, the database flushed before each test;
- ``redis_services``: edge :class:`Services` with a Redis client on that server, closed after.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from redis.asyncio import Redis

from edgeway.edge.policies.services import Services
from tests.support.redis import EmbeddedRedis


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

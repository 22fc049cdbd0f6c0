"""What the edge lends its policies: Redis, an HTTP session, lasting state, owned tasks.

One :class:`Services` per edge process, made at start-up and closed at shutdown::

    services = Services(redis_url=os.environ.get("EDGEWAY_REDIS_URL"))   # --redis URL
    ...   # each config version: handler.bind(compiled, services) for every handler
    await services.aclose()

- ``redis``: the shared ``redis.asyncio.Redis`` client for ``mode: cluster`` rate limits, usage
  plans and the ``redis`` cache backend, or ``None`` when the edge has no Redis (those policies
  then count locally and log it once). Made without connecting; connections open on first use.
- :meth:`http`: one ``aiohttp`` session for outbound helper calls (JWKS), made on first use.
- :meth:`shared`: state that must outlive a config version (token buckets, the memory cache,
  JWKS key sets, verified passwords), found again by key when the next version binds; kept
  only while some handler holds it (a weak map), so retired state goes away by itself.
- :meth:`spawn`: background tasks owned here, cancelled and awaited by :meth:`aclose`.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Callable, Coroutine, Hashable
from typing import Any, TypeVar

import aiohttp
import structlog
from redis.asyncio import Redis

from edgeway.common.tasks import stop_tasks

__all__ = ["Services"]

T = TypeVar("T")

log = structlog.get_logger(__name__)

REDIS_CONNECT_TIMEOUT_S = 0.25
REDIS_SOCKET_TIMEOUT_S = 1.0


class Services:
    """Resources shared by every policy of an edge process (see the module docstring).

    ``clock`` (monotonic seconds) and ``wall`` (epoch seconds) are injectable for tests.
    """

    def __init__(
        self,
        *,
        redis_url: str | None = None,
        redis: Redis | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        if redis is None and redis_url:
            redis = Redis.from_url(
                redis_url,
                socket_connect_timeout=REDIS_CONNECT_TIMEOUT_S,
                socket_timeout=REDIS_SOCKET_TIMEOUT_S,
                health_check_interval=0,
            )
        self.redis = redis
        self.clock = clock
        self.wall = wall
        self._owns_redis = redis is not None and redis_url is not None
        self._shared: weakref.WeakValueDictionary[Hashable, Any] = weakref.WeakValueDictionary()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._session: aiohttp.ClientSession | None = None
        self._closers: list[Callable[[], None]] = []
        self._warned: set[str] = set()
        self.closed = False

    def shared(self, key: Hashable, factory: Callable[[], T]) -> T:
        """The live object stored under ``key``, or a new one from ``factory`` (which must be
        weak-referenceable: an instance of a plain class). Callers keep a strong reference."""
        found = self._shared.get(key)
        if found is None:
            found = factory()
            self._shared[key] = found
        return found

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Run ``coro`` as a task owned by these services (cancelled on :meth:`aclose`)."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def http(self) -> aiohttp.ClientSession:
        """The shared outbound HTTP session (call on the loop)."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=10), raise_for_status=False
            )
        return self._session

    def closing(self, resource: T, close: Callable[[], None]) -> T:
        """``resource``, with ``close`` called by :meth:`aclose` (own connections)."""
        self._closers.append(close)
        return resource

    def warn_once(self, event: str, **fields: Any) -> None:
        """Log ``event`` the first time only (e.g. "no Redis: counting locally")."""
        if event not in self._warned:
            self._warned.add(event)
            log.warning(event, **fields)

    async def aclose(self) -> None:
        """Cancel and await owned tasks, close the HTTP session and an owned Redis client."""
        self.closed = True
        tasks = list(self._tasks)
        await stop_tasks(*tasks)
        for close in reversed(self._closers):
            close()
        if self._session is not None:
            await self._session.close()
        if self.redis is not None and self._owns_redis:
            await self.redis.aclose()

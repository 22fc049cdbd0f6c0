"""Handler of the ``cache`` policy: look up in the ``cache`` phase, store in ``cache-store``.

Per request: the key (built from what the config selected), then a lookup. A hit answers with
the stored response (``X-Cache: HIT``, ``Age``). On a miss the first request for the key leads:
it registers a future, fetches from the upstream, and in :meth:`CacheHandler.on_response`
hands the entry to the requests waiting on that future (they answer it as a hit) and stores
it. Its ``at_end`` callback releases the key in every case (upstream failure, client gone), so
waiters never wait past the fetch; a waiter that gets nothing fetches itself.

With the ``redis`` backend the leader of an edge also takes a fleet-wide lock on the key
(``SET NX PX``, ``lock_timeout_ms``, see :mod:`.backends`) before fetching. When another edge
holds it, the leader polls Redis every ``lock_poll_ms`` instead: the holder's stored entry
answers it and its edge's waiters as hits; a lock gone without an entry (the response was
not cacheable, the holder failed) or ``lock_timeout_ms`` spent makes it fetch itself. The
holder stores, then releases its lock (only if it is still its own); a failing Redis never
blocks: the request fetches (fail open).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
from collections.abc import Awaitable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from edgeway.edge.policies.base import (
    Exchange,
    LocalResponse,
    Outcome,
    Phase,
    PolicyHandler,
    Response,
)
from edgeway.edge.policies.cache.backends import Entry, MemoryBackend, RedisBackend
from edgeway.edge.policies.rate_limit.handler import config_digest

if TYPE_CHECKING:
    from edgeway.edge.compile.model import CompiledConfig
    from edgeway.edge.policies.services import Services

__all__ = ["CacheHandler", "Inflight", "lifetime"]

KEY = "cache.key"
"""``Exchange.context`` key: the cache key a leading request stores under."""
LOCK = "cache.lock"
"""``Exchange.context`` key: ``(lock, token)`` of the fleet-wide lock a leader holds."""
_NOT_STORED = frozenset({
    "connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
    "proxy-authenticate", "proxy-authorization", "content-length", "date", "age", "x-cache",
})  # fmt: skip
_MAX_AGE = re.compile(r"(?:^|,)\s*(s-maxage|max-age)\s*=\s*\"?(\d+)", re.I)
_NO_STORE = re.compile(r"(?:^|,)\s*(no-store|no-cache|private)\b", re.I)


def lifetime(cache_control: str, default: int, cap: int) -> int:
    """Seconds to keep a response: ``s-maxage``, else ``max-age``, else ``default``; at most
    ``cap``; 0 when it must not be stored."""
    if _NO_STORE.search(cache_control):
        return 0
    ages = {name.lower(): int(value) for name, value in _MAX_AGE.findall(cache_control)}
    seconds = ages.get("s-maxage", ages.get("max-age", default))
    return min(seconds, cap)


class Inflight:
    """Fetches under way in this edge, by key (shared by config versions)."""

    __slots__ = ("__weakref__", "futures")

    def __init__(self) -> None:
        self.futures: dict[str, asyncio.Future[Entry | None]] = {}


class CacheHandler(PolicyHandler):
    """Serves and stores responses (see the module docstring)."""

    NAME: ClassVar[str] = "cache"
    VERSION: ClassVar[str] = "1.0.0"
    PHASE: ClassVar[Phase] = Phase.CACHE
    PRIORITY: ClassVar[int] = 100
    RESPONSE_PHASE: ClassVar[Phase | None] = Phase.CACHE_STORE

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)
        self.methods = frozenset(config["methods"])
        self.statuses = frozenset(config["statuses"])
        self.ttl, self.max_ttl = int(config["ttl"]), int(config["max_ttl"])
        self.all_query = list(config["vary_query"]) == ["*"]
        self.query_names = tuple(sorted(config["vary_query"])) if not self.all_query else ()
        self.header_names = tuple(sorted(h.lower() for h in config["vary_headers"]))
        self.vary_allowed = frozenset(self.header_names)
        self.vary_consumer = bool(config["vary_consumer"])
        self.invalidators = frozenset(config["invalidate_groups"])
        self.buffer_response_body = int(config["max_body_bytes"])
        self.lock_timeout = config["lock_timeout_ms"] / 1000
        self.lock_ttl_ms = int(config["lock_timeout_ms"])
        self.lock_poll = config["lock_poll_ms"] / 1000
        self.use_redis = config["backend"] == "redis"
        self.redis_timeout = config["redis_timeout_ms"] / 1000
        digest = config_digest(config)
        self.prefix = "edgeway:cache:" + digest + ":"
        self.lock_prefix = "edgeway:cache-lock:" + digest + ":"
        self.memory = MemoryBackend(config["max_entries"], config["max_memory_bytes"])
        self.redis: RedisBackend | None = None
        self.inflight = Inflight()
        self.services: Services | None = None
        self._digest = digest

    def bind(self, config: CompiledConfig, services: Services) -> None:
        self.services = services
        c = self.config
        self.memory = services.shared(("cache", self._digest), lambda: MemoryBackend(
            c["max_entries"], c["max_memory_bytes"]))  # fmt: skip
        self.inflight = services.shared(("cache-inflight", self._digest), Inflight)
        redis = services.redis
        if self.use_redis and redis is not None:
            key = ("cache-redis", id(redis), self.redis_timeout)
            self.redis = services.shared(key, lambda: RedisBackend(redis, self.redis_timeout))
        elif self.use_redis:
            services.warn_once("cache: backend redis without Redis, caching in memory")

    # -- request side -------------------------------------------------------------------

    def key(self, exchange: Exchange) -> str:
        parts = [exchange.route_id, exchange.method, exchange.host, exchange.path]
        if self.all_query:
            parts.append(exchange.query)  # as sent: a different order is another key
        elif self.query_names:
            params = exchange.query_params
            parts.extend(n + "=" + ",".join(params.get(n, ())) for n in self.query_names)
        if self.header_names:
            headers = exchange.headers
            parts.extend(headers.get(n, "") for n in self.header_names)
        if self.vary_consumer:
            consumer = exchange.consumer
            parts.append(consumer.name if consumer is not None else "")
        text = "\n".join(parts)
        if self.redis is not None:
            return self.prefix + hashlib.sha256(text.encode()).hexdigest()
        return text

    def _refresh(self, exchange: Exchange) -> bool:
        """Whether an authorized consumer asked to refresh the entry (max-age=0)."""
        if not self.invalidators:
            return False
        consumer = exchange.consumer
        if consumer is None or not (consumer.groups & self.invalidators):
            return False
        control = exchange.headers.get("cache-control", "").replace(" ", "").lower()
        return "max-age=0" in control or "no-cache" in control

    def on_request(self, exchange: Exchange) -> Outcome | Awaitable[Outcome]:
        if exchange.method not in self.methods:
            return None
        key = self.key(exchange)
        if self._refresh(exchange):
            return self._lead(exchange, key)
        if self.redis is not None and self.redis.available():
            return self._lookup_redis(exchange, key)
        assert self.services is not None, "cache handler used before bind()"
        entry = self.memory.get(key, self.services.wall())
        if entry is not None:
            return self._hit(exchange, entry)
        future = self.inflight.futures.get(key)
        if future is not None:
            return self._wait(exchange, key, future)
        return self._lead(exchange, key)

    async def _lookup_redis(self, exchange: Exchange, key: str) -> Outcome:
        assert self.redis is not None
        assert self.services is not None
        future = self.inflight.futures.get(key)
        if future is not None:
            return await self._wait(exchange, key, future)
        entry = await self.redis.get(key, self.services.wall())
        if entry is not None:
            return self._hit(exchange, entry)
        future = self.inflight.futures.get(key)  # another request started meanwhile
        if future is not None:
            return await self._wait(exchange, key, future)
        self._lead(exchange, key)
        return await self._lead_fleet(exchange, key)

    async def _lead_fleet(self, exchange: Exchange, key: str) -> Outcome:
        """Fetch ``key`` for this edge only if no other edge does (see the module docstring)."""
        assert self.redis is not None
        assert self.services is not None
        if not self.redis.available():  # the lookup just failed: fetch without a lock
            return None
        lock = self.lock_prefix + key.removeprefix(self.prefix)
        token = secrets.token_hex(16)
        taken, entry = await self.redis.lock(lock, token, self.lock_ttl_ms, key,
                                             self.services.wall())  # fmt: skip
        if entry is None and taken is False:
            entry = await self._wait_fleet(lock, key)
        if entry is not None:  # stored meanwhile, or by the edge that held the lock
            if taken:
                self._unlock((lock, token))
            return self._shared_hit(exchange, key, entry)
        if taken:
            self._hold(exchange, (lock, token))
        return None  # fetch: under the lock, or Redis failed, or the wait found nothing

    def _shared_hit(self, exchange: Exchange, key: str, entry: Entry) -> Outcome:
        """Answer ``entry`` as a hit, and to this edge's requests waiting on this leader."""
        future = self.inflight.futures.get(key)
        if exchange.context.pop(KEY, None) == key and future is not None and not future.done():
            future.set_result(entry)
        return self._hit(exchange, entry)

    async def _wait_fleet(self, lock: str, key: str) -> Entry | None:
        """The entry another edge stores while it holds ``lock``; ``None`` when the lock is
        gone without one, Redis fails, or ``lock_timeout_ms`` passed."""
        assert self.redis is not None
        assert self.services is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.lock_timeout
        while (left := deadline - loop.time()) > 0:
            await asyncio.sleep(min(self.lock_poll, left))
            held, entry = await self.redis.peek(lock, key, self.services.wall())
            if entry is not None or not held:
                return entry
        return None

    def _hold(self, exchange: Exchange, held: tuple[str, str]) -> None:
        """Own the fleet-wide lock until stored (:meth:`on_response`) or the exchange ends."""
        exchange.context[LOCK] = held

        def release() -> None:
            if exchange.context.get(LOCK) is held:
                del exchange.context[LOCK]
                self._unlock(held)

        exchange.at_end(release)

    def _unlock(self, held: tuple[str, str]) -> None:
        if self.redis is None or self.services is None:
            return
        unlock = self.redis.unlock(*held)
        try:
            self.services.spawn(unlock, "cache unlock")
        except RuntimeError:  # no loop any more: the lock expires by itself
            unlock.close()

    def _hit(self, exchange: Exchange, entry: Entry) -> Outcome:
        assert self.services is not None
        exchange.set_response_header("x-cache", "HIT")
        age = max(0, int(self.services.wall() - entry.stored_at))
        exchange.set_response_header("age", str(age))
        return entry.response

    async def _wait(self, exchange: Exchange, key: str, future: asyncio.Future[Entry | None]
                    ) -> Outcome:  # fmt: skip
        try:
            async with asyncio.timeout(self.lock_timeout):
                entry = await asyncio.shield(future)
        except TimeoutError:
            entry = None
        if entry is not None:
            return self._hit(exchange, entry)
        exchange.set_response_header("x-cache", "MISS")
        return None

    def _lead(self, exchange: Exchange, key: str) -> Outcome:
        futures = self.inflight.futures
        if key not in futures:
            future: asyncio.Future[Entry | None] = asyncio.get_running_loop().create_future()
            futures[key] = future

            def release() -> None:
                if not future.done():
                    future.set_result(None)
                if futures.get(key) is future:
                    del futures[key]

            exchange.at_end(release)
            exchange.context[KEY] = key
        exchange.set_response_header("x-cache", "MISS")
        return None

    # -- response side ------------------------------------------------------------------

    def on_response(self, exchange: Exchange, response: Response) -> None:
        key = exchange.context.get(KEY)
        if not isinstance(key, str):
            return
        held: tuple[str, str] | None = exchange.context.pop(LOCK, None)
        entry = self._entry(response)
        future = self.inflight.futures.get(key)
        if future is not None and not future.done():
            future.set_result(entry)
        if entry is None:
            if held is not None:
                self._unlock(held)
            return
        if self.redis is not None and self.services is not None:
            self.services.spawn(self._store(key, entry, held), "cache store")
        else:
            self.memory.put(key, entry)

    async def _store(self, key: str, entry: Entry, held: tuple[str, str] | None) -> None:
        """Store in Redis, then release the fleet-wide lock (in this order: an edge that sees
        the lock gone finds the entry)."""
        assert self.redis is not None
        await self.redis.put(key, entry)
        if held is not None:
            await self.redis.unlock(*held)

    def _entry(self, response: Response) -> Entry | None:
        """The entry to store for ``response``, or ``None`` when it must not be cached."""
        body = response.body
        if body is None or response.status not in self.statuses:
            return None
        headers = response.headers
        if "set-cookie" in headers:
            return None
        vary = headers.get("vary", "")
        if vary and any(
            v.strip().lower() not in self.vary_allowed for v in vary.split(",") if v.strip()
        ):
            return None
        seconds = lifetime(headers.get("cache-control", ""), self.ttl, self.max_ttl)
        if seconds <= 0 or len(body) > self.buffer_response_body:
            return None
        assert self.services is not None
        now = self.services.wall()
        stored = tuple((k, v) for k, v in response.header_items() if k not in _NOT_STORED)
        return Entry(LocalResponse(response.status, stored, body), now, now + seconds)

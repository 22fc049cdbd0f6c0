"""Token buckets: the in-process table, and the Lua script of the fleet-wide one in Redis.

Semantics are AWS API Gateway's: a bucket holds at most ``capacity`` tokens (the burst) and
refills continuously at ``rate`` tokens per second; a request takes one token or is refused.
A new bucket starts full. The in-process table is bounded: past ``max_keys`` buckets it drops
the ones that have refilled completely (idle callers lose nothing by it), then the oldest.
"""

from __future__ import annotations

from mypy_extensions import mypyc_attr

__all__ = ["BUCKET_SCRIPT", "REFILL_LUA", "BucketTable", "LocalBuckets"]


class _Bucket:
    """One caller's tokens and when they were counted (unboxed floats: a take allocates
    nothing)."""

    def __init__(self, tokens: float, ts: float) -> None:
        self.tokens = tokens
        self.ts = ts


class BucketTable:
    """Token buckets of one limit (one capacity and rate), keyed by caller."""

    def __init__(self, capacity: float, rate: float, max_keys: int = 100_000) -> None:
        self.capacity = capacity
        self.rate = rate
        self.max_keys = max_keys
        self._buckets: dict[str, _Bucket] = {}
        self.left = 0.0
        """Tokens the last :meth:`take` left in its bucket."""
        self.wait = 0.0
        """Seconds until the bucket of the last refused :meth:`take` has a token (0 after an
        admitted one)."""

    def take(self, key: str, now: float) -> bool:
        """Take one token of ``key``'s bucket at monotonic time ``now``: whether there was
        one; :attr:`left` and :attr:`wait` tell the rest (read them before the next take)."""
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_keys:
                self._sweep(now)
            bucket = self._buckets[key] = _Bucket(self.capacity, now)
        tokens = bucket.tokens + (now - bucket.ts) * self.rate
        if tokens > self.capacity:
            tokens = self.capacity
        bucket.ts = now
        if tokens >= 1.0:
            bucket.tokens = self.left = tokens - 1.0
            self.wait = 0.0
            return True
        bucket.tokens = self.left = tokens
        self.wait = (1.0 - tokens) / self.rate
        return False

    def tokens(self, key: str, now: float) -> float:
        """Tokens ``key`` has at ``now`` (a full bucket when unknown)."""
        bucket = self._buckets.get(key)
        if bucket is None:
            return self.capacity
        return min(self.capacity, bucket.tokens + (now - bucket.ts) * self.rate)

    def __len__(self) -> int:
        return len(self._buckets)

    def _sweep(self, now: float) -> None:
        rate, capacity = self.rate, self.capacity
        full = [k for k, b in self._buckets.items() if b.tokens + (now - b.ts) * rate >= capacity]
        for key in full:
            del self._buckets[key]
        excess = len(self._buckets) - self.max_keys // 2
        if excess > 0 and not full:
            for key in list(self._buckets)[:excess]:
                del self._buckets[key]


@mypyc_attr(native_class=False)  # shared through a WeakValueDictionary: needs weakrefs
class LocalBuckets:
    """A :class:`BucketTable` that edges' handlers of one limit share (``Services.shared``
    keeps it by a weak reference, which a compiled class cannot take). Handlers keep it and
    call its ``table``, a compiled class, directly."""

    __slots__ = ("__weakref__", "table")

    def __init__(self, capacity: float, rate: float, max_keys: int = 100_000) -> None:
        self.table = BucketTable(capacity, rate, max_keys)


REFILL_LUA = """
-- The tokens of the bucket at KEYS[key] now, refilled at rate (tokens/ms) up to capacity, and
-- the timestamp to store with them. Time is the Redis server's, so every edge shares one clock.
local function refill(key, capacity, rate)
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
  local state = redis.call('HMGET', key, 'tokens', 'ts')
  local tokens = tonumber(state[1])
  local ts = tonumber(state[2])
  if tokens == nil or ts == nil then
    tokens = capacity
    ts = now
  end
  if now > ts then
    tokens = math.min(capacity, tokens + (now - ts) * rate)
    ts = now
  end
  return tokens, ts
end
"""
"""A Lua function both scripts that keep token buckets in Redis start with."""

BUCKET_SCRIPT = REFILL_LUA + """
-- One token bucket, atomically. KEYS[1]: the bucket. ARGV: capacity, rate (tokens/second),
-- lease (tokens wanted, 1 or more), returned (tokens of an expired lease given back).
-- A lease is granted only while the bucket holds two of them; otherwise one token is taken.
-- Returns {allowed (1|0), tokens left x 1000, milliseconds until one token, tokens taken}.
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2]) / 1000.0
local lease = tonumber(ARGV[3] or '1')
local returned = tonumber(ARGV[4] or '0')
local tokens, ts = refill(KEYS[1], capacity, rate)
if returned > 0 then
  tokens = math.min(capacity, tokens + returned)
end
local taken = 0
local wait = 0
if lease > 1 and tokens >= 2 * lease then
  taken = lease
elseif tokens >= 1 then
  taken = 1
else
  wait = math.ceil((1 - tokens) / rate)
end
tokens = tokens - taken
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(ts))
redis.call('PEXPIRE', KEYS[1], math.ceil(capacity / rate) + 1000)
local allowed = 0
if taken > 0 then
  allowed = 1
end
return {allowed, math.floor(tokens * 1000), wait, taken}
"""

"""Where usage-plan counts live: period arithmetic, Redis keys, the atomic script, and
:func:`usage` for ``edgeway usage --key K``.

A subject is what AWS meters: an API key (``sha256:<hex>``, the key's hash) or, for callers
authenticated otherwise, ``consumer:<name>``. Keys share the hash tag ``{subject}`` so the
script's two keys live on one Redis Cluster slot::

    edgeway:usage:{<subject>}:throttle            hash: tokens, ts
    edgeway:usage:{<subject>}:<period>:<id>       hash: used, limit, plan   (id: 2026-11-22,
                                                  2026-W47, 2026-11; expires a day after)
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from redis.asyncio import Redis

from edgeway.common.config.secrets import hash_api_key
from edgeway.edge.policies._buckets import REFILL_LUA

__all__ = [
    "USAGE_SCRIPT",
    "period_bounds",
    "quota_key",
    "subject_for_consumer",
    "subject_for_key",
    "throttle_key",
    "usage",
]

PERIODS = ("day", "week", "month")
KEEP_AFTER_END_S = 86_400


def subject_for_key(key: str) -> str:
    """The subject of an API key as presented (its hash, as stored in configs)."""
    return hash_api_key(key)


def subject_for_consumer(name: str) -> str:
    return "consumer:" + name


def _tag(subject: str) -> str:
    return "edgeway:usage:{" + subject.replace("{", "(").replace("}", ")") + "}"


def throttle_key(subject: str) -> str:
    return _tag(subject) + ":throttle"


def quota_key(subject: str, period: str, period_id: str) -> str:
    return f"{_tag(subject)}:{period}:{period_id}"


def period_bounds(period: str, now: float) -> tuple[str, float, float]:
    """``(id, start, end)`` of the UTC ``period`` (day, week from Monday, month) holding the
    epoch time ``now``."""
    moment = dt.datetime.fromtimestamp(now, dt.UTC)
    day = dt.datetime(moment.year, moment.month, moment.day, tzinfo=dt.UTC)
    if period == "day":
        start, end = day, day + dt.timedelta(days=1)
        period_id = start.strftime("%Y-%m-%d")
    elif period == "week":
        start = day - dt.timedelta(days=day.weekday())
        end = start + dt.timedelta(days=7)
        year, week, _ = start.isocalendar()
        period_id = f"{year}-W{week:02d}"
    elif period == "month":
        start = day.replace(day=1)
        end = (start + dt.timedelta(days=32)).replace(day=1)
        period_id = start.strftime("%Y-%m")
    else:
        raise ValueError(f"unknown quota period {period!r}")
    return period_id, start.timestamp(), end.timestamp()


USAGE_SCRIPT = REFILL_LUA + """
-- Throttle and quota of one subject, atomically. KEYS[1]: throttle bucket, KEYS[2]: quota.
-- ARGV: capacity (0: no throttle), rate/s, limit (0: no quota), quota ttl ms, plan name.
-- Returns {0 ok | 1 throttled | 2 quota exceeded, tokens x 1000, ms until a token, used}.
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2]) / 1000.0
local limit = tonumber(ARGV[3])
local used = 0
if limit > 0 then
  used = tonumber(redis.call('HGET', KEYS[2], 'used') or '0')
  if used >= limit then
    return {2, 0, 0, used}
  end
end
local tokens = 0
if capacity > 0 then
  local ts
  tokens, ts = refill(KEYS[1], capacity, rate)
  if tokens < 1 then
    redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(ts))
    return {1, math.floor(tokens * 1000), math.ceil((1 - tokens) / rate), used}
  end
  tokens = tokens - 1
  redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(ts))
  redis.call('PEXPIRE', KEYS[1], math.ceil(capacity / rate) + 1000)
end
if limit > 0 then
  used = redis.call('HINCRBY', KEYS[2], 'used', 1)
  redis.call('HSET', KEYS[2], 'limit', limit, 'plan', ARGV[5])
  redis.call('PEXPIRE', KEYS[2], ARGV[4])
end
return {0, math.floor(tokens * 1000), 0, used}
"""


async def usage(redis: Redis, subject: str, *, now: float | None = None) -> dict[str, Any]:
    """What ``subject`` (:func:`subject_for_key` / :func:`subject_for_consumer`) consumed:
    its throttle bucket (tokens as of its last request) and its quota in every current
    period that has counts::

        {"subject": "sha256:...", "throttle": {"tokens": 4.0} | None,
         "quotas": [{"period": "day", "id": "2026-11-22", "plan": "gold", "used": 12,
                     "limit": 1000, "remaining": 988, "resets_at": "2026-11-23T00:00:00+00:00"}]}
    """
    moment = time.time() if now is None else now
    bounds = [(period, *period_bounds(period, moment)) for period in PERIODS]
    pipe = redis.pipeline(transaction=False)
    pipe.hmget(throttle_key(subject), ["tokens", "ts"])
    for period, period_id, _, _ in bounds:
        pipe.hgetall(quota_key(subject, period, period_id))
    results = await pipe.execute()
    tokens = results[0][0]
    quotas = []
    for (period, period_id, _, end), found in zip(bounds, results[1:], strict=True):
        if not found:
            continue
        data = {k.decode(): v.decode() for k, v in found.items()}
        used, limit = int(data.get("used", 0)), int(data.get("limit", 0))
        quotas.append({
            "period": period, "id": period_id, "plan": data.get("plan", ""), "used": used,
            "limit": limit, "remaining": max(0, limit - used),
            "resets_at": dt.datetime.fromtimestamp(end, dt.UTC).isoformat(),
        })  # fmt: skip
    throttle = None if tokens is None else {"tokens": float(tokens)}
    return {"subject": subject, "throttle": throttle, "quotas": quotas}

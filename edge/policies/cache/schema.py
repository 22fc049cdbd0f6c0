"""Config schema and cross-field rules of the ``cache`` policy."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from edgeway.edge.policies._schema import (
    array,
    boolean,
    enum,
    header_name,
    integer,
    policy_schema,
    string,
)

__all__ = ["CHECKS", "MAX_TTL_BELOW_TTL", "POLL_NOT_BELOW_LOCK_TIMEOUT", "SCHEMA"]

SCHEMA: dict[str, Any] = policy_schema(
    "cache",
    "Cache upstream responses at the edge. Keyed by method, host, path, the selected query"
    " parameters and headers, and the consumer if asked. Only GET/HEAD and cacheable statuses"
    " are stored, never a response with Set-Cookie, Cache-Control no-store/no-cache/private, or"
    " a Vary beyond `vary_headers`; a response's s-maxage/max-age sets its TTL (up to"
    " `max_ttl`). X-Cache says HIT or MISS. One upstream fetch per key at a time: the others"
    " wait for it (with `redis`, across the fleet: a short lock per key in Redis). A consumer"
    " of an `invalidate_groups` group sending Cache-Control: max-age=0 refreshes the entry"
    " (like AWS); anyone else's is ignored.",
    {
        "ttl": integer("Seconds a response is kept when it does not say (s-maxage/max-age).",
                       minimum=1, maximum=86400, default=300),
        "max_ttl": integer("Longest a response may ask to be kept, in seconds.", minimum=1,
                           maximum=31_536_000, default=3600),
        "methods": array("Methods whose responses are cached.", enum("A safe method.",
                         ["GET", "HEAD"]), max_items=2, min_items=1, default=["GET", "HEAD"]),
        "statuses": array("Statuses that are cached.", integer("A status.", minimum=200,
                          maximum=599), max_items=32, min_items=1,
                          default=[200, 203, 300, 301, 404, 410]),
        "vary_query": array('Query parameters in the key; ["*"] takes all of them.',
                            string("A parameter name or *.", max_length=128), max_items=64,
                            default=["*"]),
        "vary_headers": array("Request headers in the key.", header_name("A header name."),
                              max_items=16, default=[]),
        "vary_consumer": boolean("Keep a separate entry per consumer.", default=False),
        "invalidate_groups": array("Consumer groups whose Cache-Control: max-age=0 refreshes"
                                   " an entry.", string("A group.", max_length=256),
                                   max_items=64, default=[]),
        "backend": enum("`memory`: a bounded LRU in each edge; `redis`: shared by the fleet"
                        " through the edge's Redis (memory when it has none).",
                        ["memory", "redis"], default="memory"),
        "max_entries": integer("`memory`: most entries kept.", minimum=1,
                               maximum=1_000_000, default=10_000),
        "max_memory_bytes": integer("`memory`: most bytes of bodies kept.", minimum=1024,
                                    maximum=1 << 34, default=64 << 20),
        "max_body_bytes": integer("Largest response body cached.", minimum=1,
                                  maximum=64 << 20, default=1 << 20),
        "lock_timeout_ms": integer("How long a request waits for another's fetch of the same"
                                   " key before fetching itself; with `redis`, also how long"
                                   " the fleet-wide lock of a fetch lasts at most.", minimum=1,
                                   maximum=60000, default=5000),
        "lock_poll_ms": integer("`redis`: how often a request waiting for another edge's fetch"
                                " looks for the stored response (less than `lock_timeout_ms`).",
                                minimum=5, maximum=1000, default=50),
        "redis_timeout_ms": integer("`redis`: deadline of one Redis call (a miss when late).",
                                    minimum=1, maximum=5000, default=100),
    },
)  # fmt: skip

MAX_TTL_BELOW_TTL = "max_ttl must be at least ttl"


def max_ttl_covers_ttl(config: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """The default lifetime cannot exceed the cap on lifetimes."""
    if config.get("max_ttl", 3600) < config.get("ttl", 300):
        yield "max_ttl", MAX_TTL_BELOW_TTL


def star_stands_alone(config: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """``*`` already takes every parameter: naming others beside it is a mistake."""
    names = config.get("vary_query", ["*"])
    if "*" in names and len(names) > 1:
        yield "vary_query", 'use either ["*"] or a list of names'


POLL_NOT_BELOW_LOCK_TIMEOUT = "lock_poll_ms must be less than lock_timeout_ms"


def poll_within_lock_timeout(config: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """A waiter looks for another edge's response several times before it gives up."""
    poll = config.get("lock_poll_ms")
    if poll is not None and poll >= config.get("lock_timeout_ms", 5000):
        yield "lock_poll_ms", POLL_NOT_BELOW_LOCK_TIMEOUT


CHECKS = (max_ttl_covers_ttl, star_stands_alone, poll_within_lock_timeout)

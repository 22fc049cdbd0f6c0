"""Config schema and cross-field rules of the ``rate-limit`` policy."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from edgeway.edge.policies._schema import (
    TOKEN,
    boolean,
    enum,
    integer,
    number,
    policy_schema,
    string,
)

__all__ = ["CHECKS", "KEYS", "PERIODS", "SCHEMA"]

PERIODS: dict[str, int] = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
KEYS = ("consumer", "ip", "header", "route", "path-param")
MAX_RATE = 1e9
MAX_BURST = 1_000_000_000

SCHEMA: dict[str, Any] = policy_schema(
    "rate-limit",
    "Token bucket per caller (AWS semantics): `burst` tokens at most, refilled at `rate` per"
    " `period`; a request takes one token or is answered 429 with Retry-After. `local` counts"
    " in each edge, `cluster` counts fleet-wide in Redis (atomically, so two edges sharing a"
    " limit of 100 admit 100).",
    {
        "rate": number("Tokens added per `period` (the steady rate).",
                       exclusive_minimum=0, maximum=MAX_RATE),
        "period": enum("The period `rate` is counted in.", list(PERIODS), default="second"),
        "burst": integer("Bucket capacity: requests admitted at once after a quiet time."
                         " Default: `rate` rounded up.", minimum=1, maximum=MAX_BURST),
        "key": enum("What a bucket belongs to: the authenticated `consumer` (the client address"
                    " when there is none), the client `ip`, a request `header`, the `route`, or"
                    " a route `path-param`. A missing header or parameter counts by client"
                    " address.", list(KEYS), default="consumer"),
        "key_name": string("Header name (`key: header`) or path parameter name"
                           " (`key: path-param`).", max_length=256),
        "scope": enum("`route`: each route this policy applies to counts apart; `shared`: every"
                      " route with this same config shares the buckets (a global policy with"
                      " `shared` limits a caller across the whole gateway).", ["route", "shared"],
                      default="route"),
        "mode": enum("`local` (each edge alone) or `cluster` (fleet-wide through the edge's"
                     " Redis; without one configured, counts locally and logs it).",
                     ["local", "cluster"], default="local"),
        "failure_mode": enum("`cluster` only, when Redis is unreachable: `open` counts in this"
                             " edge meanwhile, `closed` answers 503.", ["open", "closed"],
                             default="open"),
        "redis_timeout_ms": integer("`cluster` only: deadline of one Redis call.",
                                    minimum=1, maximum=5000, default=100),
        "headers": boolean("Send RateLimit-Limit, RateLimit-Remaining and RateLimit-Reset.",
                           default=True),
        "message": string("Message of the 429 answer.", max_length=1024,
                          default="API rate limit exceeded"),
    },
    required=["rate"],
)  # fmt: skip

_HEADER = re.compile(TOKEN)

KEY_NAME_REQUIRED = "key_name is required with key: header or key: path-param"
KEY_NAME_UNUSED = "key_name is only used with key: header or key: path-param"


def key_name_matches_key(config: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """A header or path-param key needs its name; other keys take none."""
    needs = config.get("key", "consumer") in ("header", "path-param")
    if needs and "key_name" not in config:
        yield "key_name", KEY_NAME_REQUIRED
    elif not needs and "key_name" in config:
        yield "key_name", KEY_NAME_UNUSED


def header_key_is_a_header_name(config: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """A header key must be a valid header name."""
    name = config.get("key_name")
    if config.get("key") == "header" and name is not None and not _HEADER.fullmatch(name):
        yield "key_name", "must be an HTTP header name (letters, digits, - and _)"


CHECKS = (key_name_matches_key, header_key_is_a_header_name)

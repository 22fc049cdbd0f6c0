"""Config schema of the ``usage-plan`` policy."""

from __future__ import annotations

from typing import Any

from edgeway.edge.policies._schema import boolean, enum, integer, policy_schema

__all__ = ["CHECKS", "SCHEMA"]

SCHEMA: dict[str, Any] = policy_schema(
    "usage-plan",
    "Enforce the caller's usage plan (consumers[].usage_plan): a token-bucket throttle"
    " (rate per second, burst) and a quota per day, week or month (UTC), metered per API key"
    " (per consumer for other credentials) and counted fleet-wide in the edge's Redis. Added"
    " automatically to consumers that have a plan; name it to change these options.",
    {
        "mode": enum("`cluster` counts in Redis (falls back to `local` when the edge has no"
                     " Redis, logged), `local` in each edge.", ["cluster", "local"],
                     default="cluster"),
        "failure_mode": enum("When Redis is unreachable: `open` counts in this edge"
                             " meanwhile, `closed` answers 503.", ["open", "closed"],
                             default="open"),
        "redis_timeout_ms": integer("Deadline of one Redis call.", minimum=1, maximum=5000,
                                    default=100),
        "headers": boolean("Send X-Quota-Limit and X-Quota-Remaining.", default=True),
    },
)  # fmt: skip

CHECKS = ()

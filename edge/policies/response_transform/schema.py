"""Config schema and cross-field rules of the ``response-transform`` policy."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from edgeway.edge.policies._schema import array, integer, policy_schema
from edgeway.edge.policies._transform import operation_problems, operations_schema

__all__ = ["CHECKS", "SCHEMA"]

SCHEMA: dict[str, Any] = policy_schema(
    "response-transform",
    "Change the upstream's response before the client (and the cache) sees it: headers and"
    " JSON body fields (remove, rename, replace, add), with the same templates as"
    " request-transform (they read the request). Bodies larger than `max_body_bytes` or not"
    " JSON pass unchanged.",
    {
        "headers": operations_schema("headers", "header"),
        "body": operations_schema("body", "JSON body field"),
        "statuses": array("Only change responses with these statuses (empty: all).",
                          integer("A status.", minimum=100, maximum=599), max_items=64,
                          default=[]),
        "max_body_bytes": integer("Largest body the `body` changes read.", minimum=1,
                                  maximum=64 << 20, default=1 << 20),
    },
)  # fmt: skip


def templates_are_valid(config: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """Every ``$(...)`` reference is one the templates know."""
    yield from operation_problems(config, ("headers", "body"))


CHECKS = (templates_are_valid,)

"""Config schema and cross-field rules of the ``request-transform`` policy."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from edgeway.edge.policies._schema import integer, policy_schema
from edgeway.edge.policies._transform import operation_problems, operations_schema

__all__ = ["CHECKS", "SCHEMA"]

SCHEMA: dict[str, Any] = policy_schema(
    "request-transform",
    "Change the request sent upstream: headers, query parameters and JSON body fields"
    " (remove, rename, replace, add). Values may use $(param.NAME), $(header.NAME),"
    " $(query.NAME), $(consumer.name), $(claim.NAME), $(request_id), $(route_id),"
    " $(client_ip), $(method), $(path), $(host); stage variables (${stage.NAME}) are"
    " substituted at deploy time.",
    {
        "headers": operations_schema("headers", "header"),
        "query": operations_schema("query", "query parameter"),
        "body": operations_schema("body", "JSON body field"),
        "max_body_bytes": integer("Largest body the `body` changes read (413 beyond).",
                                  minimum=1, maximum=64 << 20, default=1 << 20),
    },
)  # fmt: skip


def templates_are_valid(config: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """Every ``$(...)`` reference is one the templates know."""
    yield from operation_problems(config, ("headers", "query", "body"))


CHECKS = (templates_are_valid,)

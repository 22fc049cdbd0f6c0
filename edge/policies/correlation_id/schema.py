"""Config schema of the ``correlation-id`` policy."""

from __future__ import annotations

from typing import Any

from edgeway.edge.policies._schema import boolean, enum, header_name, policy_schema

__all__ = ["CHECKS", "SCHEMA"]

SCHEMA: dict[str, Any] = policy_schema(
    "correlation-id",
    "Keep the correlation id a client sent in `header`, or set one (the edge's request id, or"
    " a fresh UUID) on the request sent upstream; echo it on the response. It runs first, so"
    " even refused requests carry it.",
    {
        "header": header_name("The header that carries the id.", default="x-correlation-id"),
        "generator": enum("How a missing id is made: `request-id` (the edge's own request id,"
                          " also in its logs) or `uuid` (a random UUID4).",
                          ["request-id", "uuid"], default="request-id"),
        "echo_downstream": boolean("Send the id back on the response.", default=True),
    },
)  # fmt: skip

CHECKS = ()

"""Config schema of the ``request-size-limit`` policy."""

from __future__ import annotations

from typing import Any

from edgeway.edge.policies._schema import boolean, integer, policy_schema

__all__ = ["CHECKS", "SCHEMA"]

SCHEMA: dict[str, Any] = policy_schema(
    "request-size-limit",
    "Refuse request bodies larger than `max_bytes` with 413 payload_too_large: at once when"
    " Content-Length says so, otherwise while the body streams (chunked bodies).",
    {
        "max_bytes": integer("Largest request body admitted, in bytes.", minimum=0,
                             maximum=1 << 40, default=1 << 20),
        "require_content_length": boolean("Refuse (411) requests with a chunked body, whose"
                                          " size is not known in advance.", default=False),
    },
)  # fmt: skip

CHECKS = ()

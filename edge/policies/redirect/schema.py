"""Config schema and cross-field rules of the ``redirect`` policy."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from edgeway.edge.policies._schema import END, boolean, enum, policy_schema, string
from edgeway.edge.policies._templates import template_problems

__all__ = ["CHECKS", "SCHEMA"]

SCHEMA: dict[str, Any] = policy_schema(
    "redirect",
    "Answer every request with a redirect to `location`, a URL or path that may use"
    " templates ($(param.id), $(header.NAME), $(query.NAME), $(path), $(host), ...).",
    {
        "location": string("Where to send the client (absolute URL or path).", max_length=2048,
                           pattern=r"^[^\x00-\x20\x7f]+" + END,
                           pattern_message="must be a URL or path without spaces or control"
                           " characters"),
        "status": enum("The redirect status.", [301, 302, 303, 307, 308], default=302),
        "keep_query": boolean("Append the request's query string to the location.",
                              default=True),
    },
    required=["location"],
)  # fmt: skip


def location_templates_are_valid(config: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """Every ``$(...)`` reference in the location is known."""
    for problem in template_problems(str(config.get("location", ""))):
        yield "location", problem


CHECKS = (location_templates_are_valid,)

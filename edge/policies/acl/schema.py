"""Config schema and cross-field rules of the ``acl`` policy."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from edgeway.edge.policies._schema import array, policy_schema, string

__all__ = ["ALLOW_OR_DENY", "CHECKS", "SCHEMA"]

_GROUP = string("A consumer group (see consumers[].groups).", max_length=256)

SCHEMA: dict[str, Any] = policy_schema(
    "acl",
    "Authorize authenticated consumers by group: with `allow`, only members of a listed group"
    " pass; with `deny`, members of a listed group are refused (403). A request without an"
    " authenticated consumer is refused with 401. Put an authentication policy before it.",
    {
        "allow": array("Groups whose members may call.", _GROUP, max_items=256, min_items=1),
        "deny": array("Groups whose members may not call.", _GROUP, max_items=256, min_items=1),
    },
)

ALLOW_OR_DENY = "set either allow or deny (one list of groups), not both"


def allow_or_deny(config: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """Exactly one of the two lists (Kong's rule: a mixed list reads ambiguously)."""
    if ("allow" in config) == ("deny" in config):
        yield "allow", ALLOW_OR_DENY


CHECKS = (allow_or_deny,)

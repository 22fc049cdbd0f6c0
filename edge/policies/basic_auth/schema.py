"""Config schema of the ``basic-auth`` policy."""

from __future__ import annotations

from typing import Any

from edgeway.edge.policies._auth import ANONYMOUS_FIELD, anonymous_names_a_consumer
from edgeway.edge.policies._schema import END, boolean, integer, policy_schema, string

__all__ = ["CHECKS", "REFERENCES", "SCHEMA"]

SCHEMA: dict[str, Any] = policy_schema(
    "basic-auth",
    "Authenticate callers with HTTP Basic credentials checked against the consumers'"
    " basic-auth credentials (PBKDF2-SHA256 hashes). A successful check is remembered for"
    " `cache_ttl_s`, so the deliberately slow hash runs once per user and password, not per"
    " request; checks run off the event loop. An unknown user name costs the same check as a"
    " wrong password (against a dummy hash), so user names cannot be found by timing.",
    {
        "realm": string("The realm of the WWW-Authenticate challenge.", max_length=128,
                        pattern=r'^[^"\\\x00-\x1f]+' + END,
                        pattern_message="must be printable text without quotes or backslashes",
                        default="edgeway"),
        "hide_credentials": boolean("Remove the Authorization header from the request sent"
                                    " upstream.", default=True),
        "cache_ttl_s": integer("How long a successful check is remembered (0: never).",
                               minimum=0, maximum=3600, default=60),
        "anonymous": ANONYMOUS_FIELD,
    },
)  # fmt: skip

CHECKS = ()

REFERENCES = (anonymous_names_a_consumer,)

"""Config schema and cross-field rules of the ``key-auth`` policy."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from edgeway.edge.policies._auth import ANONYMOUS_FIELD, anonymous_names_a_consumer
from edgeway.edge.policies._schema import array, boolean, header_name, policy_schema

__all__ = ["CHECKS", "NOWHERE_TO_LOOK", "REFERENCES", "SCHEMA"]

SCHEMA: dict[str, Any] = policy_schema(
    "key-auth",
    "Authenticate callers by API key. The key is looked up by its SHA-256 hash among the"
    " consumers' key-auth credentials (the config never holds a key in clear); the consumer"
    " becomes the caller for later policies, logs and the upstream (x-consumer-name).",
    {
        "key_names": array("Header or query parameter names that may carry the key, tried in"
                           " order (headers case-insensitively).", header_name("A name."),
                           max_items=8, min_items=1, default=["apikey"]),
        "key_in_header": boolean("Look for the key in request headers.", default=True),
        "key_in_query": boolean("Look for the key in query parameters.", default=True),
        "hide_credentials": boolean("Remove the key from the request sent upstream.",
                                    default=True),
        "anonymous": ANONYMOUS_FIELD,
    },
)  # fmt: skip

NOWHERE_TO_LOOK = "key_in_header and key_in_query cannot both be false"


def somewhere_to_look(config: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """A key must be allowed in headers, the query, or both."""
    if config.get("key_in_header") is False and config.get("key_in_query") is False:
        yield "key_in_query", NOWHERE_TO_LOOK


CHECKS = (somewhere_to_look,)

REFERENCES = (anonymous_names_a_consumer,)

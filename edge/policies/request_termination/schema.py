"""Config schema and cross-field rules of the ``request-termination`` policy."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from edgeway.edge.policies._schema import END

__all__ = ["CHECKS", "SCHEMA"]

# A media type ("text/html; charset=utf-8") in printable ASCII, to the end of the text (END: a
# final line break is refused too); the header-safety rule is also a named check below.
_MEDIA_TYPE = r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+/[!#$%&'*+.^_`|~0-9A-Za-z-]+( *;[ -~]*)?" + END

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "request-termination",
    "description": (
        "Answer every request of the route (or of the consumer, or of the whole gateway) with a"
        " fixed response instead of proxying it: maintenance windows, retired APIs, blocked"
        " callers. The response is rendered once per config version."
    ),
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "status_code": {
            "description": "HTTP status of the response.",
            "type": "integer",
            "minimum": 100,
            "maximum": 599,
            "default": 503,
        },
        "message": {
            "description": (
                'Sent as the JSON body {"message": ...} with content-type application/json'
                " when `body` is not set."
            ),
            "type": "string",
            "maxLength": 4096,
            "default": "Service unavailable",
        },
        "body": {
            "description": "A raw body sent as written instead of the JSON message.",
            "type": "string",
            "maxLength": 1_048_576,
        },
        "content_type": {
            "description": "Content-Type of `body`; default text/plain; charset=utf-8.",
            "type": "string",
            "maxLength": 256,
            "pattern": _MEDIA_TYPE,
            "x-pattern-message": "must be a media type like text/html; charset=utf-8",
        },
    },
}

MESSAGE_OR_BODY = "set either message or body, not both"
CONTENT_TYPE_NEEDS_BODY = "content_type applies to body only (message is always sent as JSON)"
NO_LINE_BREAKS = "must not contain line breaks or other control characters"


def message_or_body(config: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """``message`` and ``body`` are two ways to say the same thing: one at most."""
    if "message" in config and "body" in config:
        yield "body", MESSAGE_OR_BODY


def content_type_needs_body(config: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """A content type without a raw body would contradict the JSON message."""
    if "content_type" in config and "body" not in config:
        yield "content_type", CONTENT_TYPE_NEEDS_BODY


def content_type_is_one_line(config: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """The content type becomes a header line: no control characters may split it."""
    value = config.get("content_type", "")
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in value):
        yield "content_type", NO_LINE_BREAKS


CHECKS = (message_or_body, content_type_needs_body, content_type_is_one_line)

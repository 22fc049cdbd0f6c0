"""Builders of JSON Schema fragments, so every policy field is described, typed and bounded.

Each builder takes the description first; bounds are required arguments, so a field cannot be
declared unbounded by accident. A default, when given, is what the handler gets when the field
is absent (the registry fills top-level defaults in; nested ones are the handler's to apply).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = [
    "END",
    "HEADER_NAME",
    "TOKEN",
    "array",
    "boolean",
    "enum",
    "header_name",
    "integer",
    "mapping",
    "number",
    "obj",
    "policy_schema",
    "string",
]

_UNSET: Any = object()

END = r"(?![\s\S])"
"""The end of the text in a schema ``pattern``: unlike ``$``, which Python's ``re`` (what the
validator uses) also matches before a final newline, so ``^[a-z]+$`` accepts ``"guest\\n"``.
Every pattern here ends with it."""
TOKEN = r"[A-Za-z0-9!#$%&'*+.^_`|~-]+"
"""An HTTP token (RFC 9110), unanchored."""
HEADER_NAME = "^" + TOKEN + END
"""An HTTP header field name (a token); handlers use it lower-cased."""


def _with_default(schema: dict[str, Any], default: Any) -> dict[str, Any]:
    if default is not _UNSET:
        schema["default"] = default
    return schema


def string(
    description: str,
    *,
    max_length: int,
    min_length: int = 1,
    default: Any = _UNSET,
    pattern: str | None = None,
    pattern_message: str | None = None,
) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "description": description, "type": "string",
        "minLength": min_length, "maxLength": max_length,
    }  # fmt: skip
    if pattern is not None:
        schema["pattern"] = pattern
    if pattern_message is not None:
        schema["x-pattern-message"] = pattern_message
    return _with_default(schema, default)


def header_name(description: str, *, default: Any = _UNSET) -> dict[str, Any]:
    message = "must be an HTTP header name (letters, digits, - and _)"
    return string(description, max_length=256, default=default, pattern=HEADER_NAME,
                  pattern_message=message)


def integer(
    description: str, *, minimum: int, maximum: int, default: Any = _UNSET
) -> dict[str, Any]:
    schema = {"description": description, "type": "integer", "minimum": minimum,
              "maximum": maximum}  # fmt: skip
    return _with_default(schema, default)


def number(
    description: str,
    *,
    maximum: float,
    minimum: float | None = None,
    exclusive_minimum: float | None = None,
    default: Any = _UNSET,
) -> dict[str, Any]:
    schema: dict[str, Any] = {"description": description, "type": "number", "maximum": maximum}
    if minimum is not None:
        schema["minimum"] = minimum
    if exclusive_minimum is not None:
        schema["exclusiveMinimum"] = exclusive_minimum
    return _with_default(schema, default)


def boolean(description: str, *, default: bool) -> dict[str, Any]:
    return {"description": description, "type": "boolean", "default": default}


def enum(description: str, values: Sequence[Any], *, default: Any = _UNSET) -> dict[str, Any]:
    kinds = sorted({"integer" if isinstance(v, int) else "string" for v in values})
    schema: dict[str, Any] = {
        "description": description, "type": kinds[0] if len(kinds) == 1 else kinds,
        "enum": list(values),
    }  # fmt: skip
    return _with_default(schema, default)


def array(
    description: str,
    items: dict[str, Any],
    *,
    max_items: int,
    min_items: int = 0,
    unique: bool = True,
    default: Any = _UNSET,
) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "description": description, "type": "array", "items": items,
        "maxItems": max_items, "uniqueItems": unique,
    }  # fmt: skip
    if min_items:
        schema["minItems"] = min_items
    return _with_default(schema, default)


def obj(
    description: str,
    properties: dict[str, dict[str, Any]],
    *,
    required: Sequence[str] = (),
    default: Any = _UNSET,
) -> dict[str, Any]:
    """A nested object with known fields only."""
    schema: dict[str, Any] = {
        "description": description, "type": "object", "additionalProperties": False,
        "properties": properties,
    }  # fmt: skip
    if required:
        schema["required"] = list(required)
    return _with_default(schema, default)


def mapping(
    description: str,
    values: dict[str, Any],
    *,
    max_properties: int,
    key_pattern: str = HEADER_NAME,
    default: Any = _UNSET,
) -> dict[str, Any]:
    """A map from names (matching ``key_pattern``) to ``values``."""
    schema: dict[str, Any] = {
        "description": description, "type": "object", "maxProperties": max_properties,
        "propertyNames": {"pattern": key_pattern, "maxLength": 256,
                          "x-pattern-message": "must be a name of letters, digits, - and _"},
        "additionalProperties": values,
    }  # fmt: skip
    return _with_default(schema, default)


def policy_schema(
    name: str,
    description: str,
    properties: dict[str, dict[str, Any]],
    *,
    required: Sequence[str] = (),
) -> dict[str, Any]:
    """The top-level schema of policy ``name``."""
    schema = obj(description, properties, required=required)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": name, **schema}

"""JSON Schema validation errors in plain language, each with the path of the bad field.

A schema may word its own pattern errors with the annotation ``"x-pattern-message"``
(``"must be a media type like text/html"``) instead of quoting the regular expression.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from jsonschema import ValidationError

__all__ = ["Problem", "describe", "kind"]

Problem = tuple[tuple[str | int, ...], str]

_TYPE_WORDS = {
    "array": "a list",
    "boolean": "true or false",
    "integer": "an integer",
    "null": "null",
    "number": "a number",
    "object": "a mapping",
    "string": "a string",
}


def kind(value: object) -> str:
    """The word an operator would use for a JSON value's type."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    return "mapping" if isinstance(value, dict) else type(value).__name__


def _one_of(values: Sequence[Any]) -> str:
    return ", ".join(str(v) for v in values)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def describe(error: ValidationError) -> Iterator[Problem]:
    """The problems one validation error stands for (``required`` and
    ``additionalProperties`` name each field), with paths relative to the config."""
    path = tuple(error.absolute_path)
    keyword, expected, instance = error.validator, error.validator_value, error.instance
    schema: Mapping[str, Any] = error.schema if isinstance(error.schema, Mapping) else {}
    if keyword == "additionalProperties" and isinstance(instance, dict):
        known = sorted(schema.get("properties", {}))
        patterns = list(schema.get("patternProperties", {}))
        for name in sorted(instance):
            if name in known or any(re.search(p, name) for p in patterns):
                continue
            close = difflib.get_close_matches(name, known, n=1, cutoff=0.7)
            hint = f'did you mean "{close[0]}"?' if close else f"known fields: {_one_of(known)}"
            yield (*path, name), f"unknown field ({hint})"
        return
    if keyword == "required" and isinstance(instance, dict) and isinstance(expected, list):
        for name in expected:
            if name not in instance:
                yield (*path, name), "is required"
        return
    if keyword == "pattern" and "x-pattern-message" in schema:
        yield path, str(schema["x-pattern-message"])
        return
    yield path, _message(str(keyword), expected, instance, error.message)


_PHRASES: dict[str, Callable[[Any], str]] = {
    "enum": lambda v: f"must be one of {_one_of(v)}",
    "const": lambda v: f"must be {v!r}",
    "minimum": lambda v: f"must be at least {v}",
    "maximum": lambda v: f"must be at most {v}",
    "exclusiveMinimum": lambda v: f"must be greater than {v}",
    "exclusiveMaximum": lambda v: f"must be less than {v}",
    "multipleOf": lambda v: f"must be a multiple of {v}",
    "minLength": lambda v: (
        "must not be empty" if v == 1 else f"must be at least {_plural(v, 'character')} long"
    ),
    "maxLength": lambda v: f"must be at most {_plural(v, 'character')} long",
    "pattern": lambda v: f"must match the pattern {v}",
    "format": lambda v: f"is not a valid {v}",
    "minItems": lambda v: "must not be empty" if v == 1 else f"needs at least {v} items",
    "maxItems": lambda v: f"may hold at most {_plural(v, 'item')}",
    "uniqueItems": lambda v: "must not repeat an item",
    "minProperties": lambda v: f"needs at least {_plural(v, 'field')}",
    "maxProperties": lambda v: f"may hold at most {_plural(v, 'field')}",
}


def _message(keyword: str, expected: Any, instance: Any, fallback: str) -> str:
    if keyword == "type":
        names = [expected] if isinstance(expected, str) else list(expected)
        words = " or ".join(_TYPE_WORDS.get(n, n) for n in names)
        return f"expected {words}, got {kind(instance)}"
    phrase = _PHRASES.get(keyword)
    return phrase(expected) if phrase else fallback

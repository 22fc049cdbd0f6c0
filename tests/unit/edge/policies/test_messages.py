"""JSON Schema errors in plain language."""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft202012Validator

from edgeway.edge.policies._messages import describe


def messages(schema: dict[str, Any], instance: Any) -> list[tuple[tuple[str | int, ...], str]]:
    validator = Draft202012Validator(schema)
    return sorted(p for error in validator.iter_errors(instance) for p in describe(error))


@pytest.mark.parametrize(
    ("schema", "instance", "message"),
    [
        ({"type": "integer"}, 1.5, "expected an integer, got number"),
        ({"type": ["string", "null"]}, 1, "expected a string or null, got integer"),
        ({"type": "array"}, {}, "expected a list, got mapping"),
        ({"enum": ["a", "b"]}, "c", "must be one of a, b"),
        ({"minimum": 1}, 0, "must be at least 1"),
        ({"maximum": 9}, 10, "must be at most 9"),
        ({"exclusiveMinimum": 0}, 0, "must be greater than 0"),
        ({"minLength": 3}, "ab", "must be at least 3 characters long"),
        ({"maxLength": 1}, "ab", "must be at most 1 character long"),
        ({"minItems": 1}, [], "must not be empty"),
        ({"uniqueItems": True}, [1, 1], "must not repeat an item"),
        ({"pattern": "^a"}, "b", "must match the pattern ^a"),
        ({"pattern": "^a", "x-pattern-message": "must start with a"}, "b", "must start with a"),
    ],
)
def test_a_keyword_failure_reads_as_plain_language(
    schema: dict[str, Any], instance: Any, message: str
) -> None:
    assert messages(schema, instance) == [((), message)]


def test_each_unexpected_field_is_named_at_its_own_path() -> None:
    schema = {"type": "object", "additionalProperties": False, "properties": {"limit": {}}}
    assert messages(schema, {"limt": 1, "zzz": 2}) == [
        (("limt",), 'unknown field (did you mean "limit"?)'),
        (("zzz",), "unknown field (known fields: limit)"),
    ]


def test_fields_allowed_by_a_pattern_are_not_unexpected() -> None:
    schema = {"type": "object", "additionalProperties": False, "patternProperties": {"^x-": {}}}
    assert messages(schema, {"x-a": 1, "b": 2}) == [(("b",), "unknown field (known fields: )")]


def test_each_missing_field_is_named_at_its_own_path() -> None:
    schema = {"type": "object", "required": ["a", "b"]}
    assert messages(schema, {"b": 1}) == [(("a",), "is required")]


def test_nested_paths_are_kept() -> None:
    schema = {"type": "object", "properties": {"l": {"type": "array", "items": {"type": "string"}}}}
    assert messages(schema, {"l": ["a", 2]}) == [(("l", 1), "expected a string, got integer")]

"""Structural check of YAML/JSON data against the ``GatewayConfig`` descriptor.

Walks parsed data field by field and collects every problem with its path (unknown fields with
a suggestion, wrong types, integer ranges, fields given twice) before protobuf parses it, since
protobuf's own parser stops at the first problem.
"""

from __future__ import annotations

import datetime
import difflib
import math
import re

from google.protobuf.descriptor import Descriptor, FieldDescriptor

from edgeway.common.errors import ConfigError, join_path

MAX_VALUES = 2_000_000
"""Upper bound on the values one config may hold once YAML aliases are expanded."""
MAX_JSON_DEPTH = 32
"""Deepest nesting inside a policy config or mock body: each JSON level costs protobuf two
message levels, and protobuf refuses to parse more than 100 (also when reading from etcd)."""

_F = FieldDescriptor
_INT_RANGES = {
    **dict.fromkeys((_F.TYPE_INT32, _F.TYPE_SINT32, _F.TYPE_SFIXED32),
                    (-(2**31), 2**31 - 1, "32-bit integer")),
    **dict.fromkeys((_F.TYPE_UINT32, _F.TYPE_FIXED32), (0, 2**32 - 1, "unsigned 32-bit integer")),
    **dict.fromkeys((_F.TYPE_INT64, _F.TYPE_SINT64, _F.TYPE_SFIXED64),
                    (-(2**63), 2**63 - 1, "64-bit integer")),
    **dict.fromkeys((_F.TYPE_UINT64, _F.TYPE_FIXED64), (0, 2**64 - 1, "unsigned 64-bit integer")),
}  # fmt: skip
INT64_TYPES = frozenset(t for t, (_, hi, _) in _INT_RANGES.items() if hi > 2**32)
_FLOAT_TYPES = frozenset({FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT})
_FLOAT_WORDS = frozenset({"NaN", "Infinity", "-Infinity"})
_STRUCT, _VALUE, _LIST_VALUE = (
    "google.protobuf.Struct",
    "google.protobuf.Value",
    "google.protobuf.ListValue",
)
_DIGITS = re.compile(r"-?[0-9]+")

_KINDS: dict[type, str] = {
    type(None): "null", bool: "boolean", int: "integer", float: "number", str: "string",
    list: "list", dict: "mapping", datetime.datetime: "timestamp", datetime.date: "date",
    bytes: "binary",
}  # fmt: skip


def kind(value: object) -> str:
    """The word an operator would use for a YAML/JSON value's type."""
    return _KINDS.get(type(value), type(value).__name__)


def _utf8_problem(text: str) -> str | None:
    if text.isascii():
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "contains characters that cannot be encoded as UTF-8 (lone surrogates)"
    return None


class Walker:
    """Checks data against a message descriptor, collecting errors with paths."""

    def __init__(self) -> None:
        self.errors: list[ConfigError] = []
        self.budget = MAX_VALUES

    def error(self, path: str, message: str) -> None:
        self.errors.append(ConfigError(path, message))

    def tick(self) -> None:
        self.budget -= 1
        if self.budget < 0:
            raise TooLargeError

    def message(self, desc: Descriptor, data: object, path: str) -> None:
        self.tick()
        name = desc.full_name
        if name == _STRUCT:
            self.json_object(data, path)
            return
        if name == _VALUE:
            self.json_value(data, path)
            return
        if name == _LIST_VALUE:
            if isinstance(data, list):
                self.json_value(data, path)
            else:
                self.expected("a list", data, path)
            return
        if name.startswith("google.protobuf."):
            return  # other well-known types: protobuf's parser checks them
        if not isinstance(data, dict):
            self.expected("a mapping", data, path)
            return
        seen: dict[str, str] = {}
        for key, value in data.items():
            if not isinstance(key, str):
                self.error(path, f"field names must be strings, got {kind(key)} {key!r}")
                continue
            field = desc.fields_by_name.get(key) or _by_json_name(desc).get(key)
            if field is None:
                self.error(join_path(path, key), "unknown field" + _suggest(key, desc))
                continue
            if field.name in seen:
                self.error(join_path(path, key), f"given twice (also as {seen[field.name]!r})")
                continue
            seen[field.name] = key
            if value is not None:  # null means "unset", as in protobuf's JSON mapping
                self.field(field, value, join_path(path, field.name))

    def field(self, field: FieldDescriptor, value: object, path: str) -> None:
        message_type = field.message_type
        if message_type is not None and message_type.GetOptions().map_entry:
            self.map(message_type, value, path)
        elif field.is_repeated:
            if not isinstance(value, list):
                self.expected("a list", value, path)
                return
            for index, item in enumerate(value):
                item_path = join_path(path, index)
                if item is None:
                    self.expected(_expected_words(field), item, item_path)
                else:
                    self.single(field, item, item_path)
        else:
            self.single(field, value, path)

    def map(self, entry: Descriptor, value: object, path: str) -> None:
        if not isinstance(value, dict):
            self.expected("a mapping", value, path)
            return
        key_field = entry.fields_by_name["key"]
        value_field = entry.fields_by_name["value"]
        for key, item in value.items():
            item_path = join_path(path, str(key))
            if key_field.type == FieldDescriptor.TYPE_STRING:
                if not isinstance(key, str):
                    self.error(item_path, f"keys must be strings, got {kind(key)}; quote the key")
                    continue
                problem = _utf8_problem(key)
                if problem:
                    self.error(item_path, f"key {problem}")
            elif isinstance(key, bool) or not (
                isinstance(key, int) or (isinstance(key, str) and _DIGITS.fullmatch(key))
            ):
                self.error(item_path, f"keys must be integers, got {kind(key)}")
                continue
            if item is None:
                self.expected(_expected_words(value_field), item, item_path)
            else:
                self.single(value_field, item, item_path)

    def single(self, field: FieldDescriptor, value: object, path: str) -> None:
        self.tick()
        kind = field.type
        if field.message_type is not None:
            self.message(field.message_type, value, path)
        elif kind == FieldDescriptor.TYPE_STRING:
            if not isinstance(value, str):
                self.expected("a string", value, path, hint="; quote the value")
            elif problem := _utf8_problem(value):
                self.error(path, problem)
        elif kind == FieldDescriptor.TYPE_BOOL:
            if not isinstance(value, bool):
                self.expected("true or false", value, path)
        elif kind in _INT_RANGES:
            self.integer(kind, value, path)
        elif kind in _FLOAT_TYPES:
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            if not (ok or (isinstance(value, str) and value in _FLOAT_WORDS)):
                self.expected("a number", value, path)
        elif kind == FieldDescriptor.TYPE_ENUM:
            assert field.enum_type is not None
            names = [v.name for v in field.enum_type.values]
            if isinstance(value, str) and value not in names:
                self.error(path, f"must be one of {', '.join(names)}")
            elif not isinstance(value, str | int) or isinstance(value, bool):
                self.expected("one of " + ", ".join(names), value, path)
        elif kind == FieldDescriptor.TYPE_BYTES and not isinstance(value, str):
            self.expected("a base64 string", value, path)

    def integer(self, kind: int, value: object, path: str) -> None:
        low, high, words = _INT_RANGES[kind]
        if isinstance(value, str) and kind in INT64_TYPES and _DIGITS.fullmatch(value):
            value = int(value)  # protobuf's JSON mapping writes 64-bit integers as strings
        if isinstance(value, bool) or not isinstance(value, int):
            self.expected("an integer", value, path)
        elif not low <= value <= high:
            self.error(path, f"{value} is out of range for a {words} ({low}..{high})")

    def json_object(self, data: object, path: str) -> None:
        if not isinstance(data, dict):
            self.expected("a mapping", data, path)
        else:
            self.json_value(data, path)

    def json_value(self, data: object, path: str, depth: int = 0) -> None:
        """Any JSON value (google.protobuf.Value): what YAML may put in a policy config."""
        self.tick()
        if depth > MAX_JSON_DEPTH:  # also where a YAML alias makes the data refer to itself
            self.error(path, f"nests deeper than {MAX_JSON_DEPTH} levels")
            return
        if data is None or isinstance(data, bool | int):
            return
        if isinstance(data, float):
            if not math.isfinite(data):
                self.error(path, f"{data} is not a JSON number")
        elif isinstance(data, str):
            if problem := _utf8_problem(data):
                self.error(path, problem)
        elif isinstance(data, list):
            for index, item in enumerate(data):
                self.json_value(item, join_path(path, index), depth + 1)
        elif isinstance(data, dict):
            for key, item in data.items():
                if isinstance(key, str):
                    self.json_value(item, join_path(path, key), depth + 1)
                else:
                    message = f"keys must be strings, got {kind(key)}; quote the key"
                    self.error(join_path(path, str(key)), message)
        else:
            self.error(path, f"expected a JSON value, got {kind(data)}; quote the value")

    def expected(self, what: str, value: object, path: str, hint: str = "") -> None:
        self.error(path, f"expected {what}, got {kind(value)}{hint}")


class TooLargeError(Exception):
    """Raised inside the walk when the value budget is spent."""


def _by_json_name(desc: Descriptor) -> dict[str, FieldDescriptor]:
    return {f.json_name: f for f in desc.fields}


def _suggest(key: str, desc: Descriptor) -> str:
    names = [f.name for f in desc.fields]
    by_json = {f.json_name: f.name for f in desc.fields}
    close = difflib.get_close_matches(key, [*names, *by_json], n=1, cutoff=0.7)
    if close:
        return f' (did you mean "{by_json.get(close[0], close[0])}"?)'
    return f" (known fields: {', '.join(names)})"


def _expected_words(field: FieldDescriptor) -> str:
    if field.message_type is not None:
        return "a mapping"
    if field.type == FieldDescriptor.TYPE_STRING:
        return "a string"
    if field.type == FieldDescriptor.TYPE_BOOL:
        return "true or false"
    return "a number" if field.type in _FLOAT_TYPES else "an integer"

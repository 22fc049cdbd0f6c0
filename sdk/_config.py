"""A plugin's typed config: a pydantic model or a dataclass, its JSON Schema, its errors.

:class:`ConfigModel` wraps the author's config type in a pydantic ``TypeAdapter`` once per plugin
class: :attr:`ConfigModel.schema_json` is what ``Describe`` advertises, :meth:`ConfigModel.errors`
is what ``ValidateConfig`` answers (each error with its field path, ``limits[0].max``), and
:meth:`ConfigModel.parse` turns the ``Struct`` sent with every call into the typed value, caching
it per distinct config: a route's config changes once per version, not per request.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Generic, TypeVar

from google.protobuf import struct_pb2
from pydantic import TypeAdapter, ValidationError

__all__ = ["ConfigModel", "ConfigRejected", "error_path", "struct_to_python"]

C = TypeVar("C")

_CACHE_SIZE = 256


class ConfigRejected(Exception):
    """A config sent with a call does not validate: ``errors`` are ``(path, message)`` pairs."""

    def __init__(self, errors: Sequence[tuple[str, str]]) -> None:
        self.errors = list(errors)
        shown = "; ".join(f"{path}: {message}" if path else message for path, message in errors)
        super().__init__(f"invalid plugin config: {shown}")


def error_path(location: Sequence[int | str]) -> str:
    """A pydantic error location as a field path: ``("limits", 0, "max")`` -> ``limits[0].max``;
    keys that are not plain names are quoted (``headers["x.y"]``)."""
    path = ""
    for part in location:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part.replace("_", "a").replace("-", "a").isalnum():
            path = f"{path}.{part}" if path else part
        else:
            path += f'["{part}"]'
    return path


def _value(value: struct_pb2.Value) -> Any:
    kind = value.WhichOneof("kind")
    if kind == "number_value":
        number = value.number_value
        return int(number) if number.is_integer() and abs(number) < 2**53 else number
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "struct_value":
        return struct_to_python(value.struct_value)
    if kind == "list_value":
        return [_value(item) for item in value.list_value.values]
    return None


def struct_to_python(struct: struct_pb2.Struct) -> dict[str, Any]:
    """A ``Struct`` as plain JSON data; whole numbers become ``int`` (a Struct keeps doubles)."""
    return {key: _value(item) for key, item in struct.fields.items()}


class ConfigModel(Generic[C]):
    """The config type of a plugin class, validated with pydantic (models and dataclasses)."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self._adapter: TypeAdapter[C] = TypeAdapter(model)
        self.schema: dict[str, Any] = self._adapter.json_schema()
        self.schema.setdefault("$schema", "https://json-schema.org/draft/2020-12/schema")
        self.schema_json = json.dumps(self.schema, separators=(",", ":"), sort_keys=True)
        self._parsed: dict[bytes, C] = {}

    def errors(self, data: Any) -> list[tuple[str, str]]:
        """Every problem of ``data`` as ``(path, message)``; empty when it is valid."""
        try:
            self._adapter.validate_python(data)
        except ValidationError as exc:
            return [(error_path(e["loc"]), e["msg"]) for e in exc.errors(include_url=False)]
        return []

    def parse_data(self, data: Any) -> C:
        """The typed config for JSON data (raises :class:`ConfigRejected`)."""
        try:
            return self._adapter.validate_python(data)
        except ValidationError as exc:
            raise ConfigRejected(
                [(error_path(e["loc"]), e["msg"]) for e in exc.errors(include_url=False)]
            ) from None

    def parse(self, struct: struct_pb2.Struct) -> C:
        """The typed config for a call's ``Struct``, cached per distinct config."""
        key = struct.SerializeToString(deterministic=True)
        parsed = self._parsed.get(key)
        if parsed is None:
            parsed = self.parse_data(struct_to_python(struct))
            if len(self._parsed) >= _CACHE_SIZE:
                del self._parsed[next(iter(self._parsed))]
            self._parsed[key] = parsed
        return parsed

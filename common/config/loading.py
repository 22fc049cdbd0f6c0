"""Operator text (YAML or JSON) to a ``GatewayConfig``, with every structural error named.

The YAML an operator writes is the protobuf JSON mapping of ``GatewayConfig`` (snake_case
field names, lowerCamelCase accepted too), so there is one schema: the message descriptor.
:func:`config_from_dict` walks the data against that descriptor *before* handing it to
protobuf, because protobuf's own parser stops at the first problem and words it for protobuf
users; the walk collects every problem with its path (``routes[2].pathz: unknown field (did you
mean "paths"?)``) so an operator fixes a file in one round. Semantic rules (dangling
references, duplicate ids, policy schemas) are the compile step's job (``edgeway.edge.compile``).

Hardening: duplicate mapping keys are refused with their line numbers (YAML and JSON), YAML
aliases may not blow it up beyond :data:`MAX_VALUES` values (nor, inside policy configs, make
it refer to itself: :data:`MAX_JSON_DEPTH`), and at most :data:`MAX_ERRORS` errors are listed.
"""

from __future__ import annotations

import json
from typing import Any, Literal

import yaml
from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from edgeway.common.config._structure import (
    INT64_TYPES,
    MAX_JSON_DEPTH,
    MAX_VALUES,
    TooLargeError,
    Walker,
    kind,
)
from edgeway.common.errors import ConfigError, ConfigInvalid
from edgeway.v1.config_pb2 import GatewayConfig

__all__ = [
    "MAX_ERRORS",
    "MAX_JSON_DEPTH",
    "MAX_VALUES",
    "config_from_dict",
    "config_to_dict",
    "config_to_yaml",
    "parse_config_text",
]

MAX_ERRORS = 500
"""At most this many structural errors are listed; a last error says how many were left out."""

_DEFAULT_SOURCE = "<config>"


# ------------------------------------------------------------------------------------------
# Text to data


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """Safe YAML loader that refuses duplicate mapping keys (YAML would keep the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, yaml.Node] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.setdefault(key, key_node)
            except TypeError:
                continue  # unhashable key: the base constructor words that error
            if first is not key_node:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key {key!r} (first defined at line {first.start_mark.line + 1})",
                    key_node.start_mark,
                )
        result: dict[Any, Any] = super().construct_mapping(node, deep=deep)
        return result


def _yaml_error(exc: yaml.YAMLError) -> str:
    if not isinstance(exc, yaml.MarkedYAMLError) or exc.problem_mark is None:
        return f"invalid YAML: {exc}"
    mark = exc.problem_mark
    text = f"invalid YAML at line {mark.line + 1}, column {mark.column + 1}: {exc.problem}"
    if exc.context and exc.context_mark is not None:
        text += f" ({exc.context} at line {exc.context_mark.line + 1})"
    return text


def _json_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def parse_config_text(
    text: str | bytes,
    *,
    source: str = _DEFAULT_SOURCE,
    fmt: Literal["yaml", "json"] | None = None,
) -> GatewayConfig:
    """Parse YAML (the default; JSON is YAML too) or JSON text into a ``GatewayConfig``.

    Raises :class:`ConfigInvalid` naming every problem: the text's syntax (with line and
    column), then its structure (see :func:`config_from_dict`). ``source`` (a file name) is
    added to syntax errors.
    """
    where = "" if source == _DEFAULT_SOURCE else f" (in {source})"
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            message = f"config is not UTF-8 text (invalid byte at offset {exc.start}){where}"
            raise ConfigInvalid([ConfigError("", message)]) from None
    try:
        if fmt == "json":
            data = json.loads(text, object_pairs_hook=_json_pairs)
        else:
            data = yaml.load(text, Loader=_Loader)  # _Loader is a SafeLoader
    except json.JSONDecodeError as exc:
        message = f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}{where}"
        raise ConfigInvalid([ConfigError("", message)]) from None
    except ValueError as exc:  # a duplicate key in JSON
        raise ConfigInvalid([ConfigError("", f"invalid JSON: {exc}{where}")]) from None
    except yaml.YAMLError as exc:
        raise ConfigInvalid([ConfigError("", _yaml_error(exc) + where)]) from None
    except RecursionError:
        message = f"config nests too deeply to parse{where}"
        raise ConfigInvalid([ConfigError("", message)]) from None
    if data is None:
        raise ConfigInvalid([ConfigError("", f"config is empty{where}")])
    return config_from_dict(data)


# ------------------------------------------------------------------------------------------
# Data to message


def config_from_dict(data: object) -> GatewayConfig:
    """Build a ``GatewayConfig`` from parsed YAML/JSON data (the protobuf JSON mapping).

    Raises :class:`ConfigInvalid` listing every structural problem with its path: unknown
    fields (with a suggestion), wrong types, integers out of range, fields given twice (as
    ``path_match`` and ``pathMatch``). ``null`` means "unset", as in protobuf's JSON mapping.
    """
    if not isinstance(data, dict):
        message = (
            "config must be a mapping of GatewayConfig fields "
            f"(routes, upstreams, consumers, ...), got {kind(data)}"
        )
        raise ConfigInvalid([ConfigError("", message)])
    walker = Walker()
    try:
        walker.message(GatewayConfig.DESCRIPTOR, data, "")
    except TooLargeError:
        message = f"config is too large: more than {MAX_VALUES} values (YAML aliases included)"
        raise ConfigInvalid([ConfigError("", message)]) from None
    except RecursionError:
        raise ConfigInvalid([ConfigError("", "config nests too deeply")]) from None
    errors = walker.errors
    if errors:
        if len(errors) > MAX_ERRORS:
            left_out = len(errors) - MAX_ERRORS
            errors = [*errors[:MAX_ERRORS], ConfigError("", f"... and {left_out} more errors")]
        raise ConfigInvalid(errors)
    try:
        return json_format.ParseDict(data, GatewayConfig())
    except json_format.ParseError as exc:  # the walk should have caught it; still say why
        raise ConfigInvalid([ConfigError("", f"cannot read the config: {exc}")]) from None


# ------------------------------------------------------------------------------------------
# Message to data / text


def config_to_dict(config: GatewayConfig) -> dict[str, Any]:
    """The protobuf JSON mapping of ``config`` with proto field names, tidied for people.

    Two departures from ``MessageToDict`` that keep the output readable and still parse back
    to the same message: 64-bit integers are written as numbers (not strings), and numbers in
    policy configs (``google.protobuf.Struct`` keeps doubles) that are whole are written as
    integers (``10`` rather than ``10.0``).
    """
    data = json_format.MessageToDict(config, preserving_proto_field_name=True)
    _tidy(GatewayConfig.DESCRIPTOR, data)
    return data


def _tidy(desc: Descriptor, data: dict[str, Any]) -> None:
    for key, value in data.items():
        field = desc.fields_by_name[key]
        message_type = field.message_type
        if message_type is not None and message_type.GetOptions().map_entry:
            value_field = message_type.fields_by_name["value"]
            for map_key, item in value.items():
                value[map_key] = _tidy_one(value_field, item)
        elif field.is_repeated:
            data[key] = [_tidy_one(field, item) for item in value]
        else:
            data[key] = _tidy_one(field, value)


def _tidy_one(field: FieldDescriptor, value: Any) -> Any:
    if field.message_type is None:
        return int(value) if field.type in INT64_TYPES else value
    if field.message_type.full_name.startswith("google.protobuf."):
        return _whole_numbers(value)
    _tidy(field.message_type, value)
    return value


def _whole_numbers(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, list):
        return [_whole_numbers(item) for item in value]
    if isinstance(value, dict):
        return {key: _whole_numbers(item) for key, item in value.items()}
    return value


class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    """Safe dumper that writes multi-line strings (PEM keys) as literal blocks."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def config_to_yaml(config: GatewayConfig) -> str:
    """``config`` as YAML that :func:`parse_config_text` reads back to an equal message."""
    text: str = yaml.dump(
        config_to_dict(config),
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
    )
    return text

"""Stage variables: ``${stage.NAME}`` in any string of a config, substituted at deploy time.

A reference may appear in every string value of the config: scalar fields, lists, map values
(not map keys, which are names) and strings inside policy configs and mock bodies. ``$${`` is
a literal ``${``. ``config.variables`` holds the defaults and ``config.stage_variables[stage]``
overrides them for one stage. Values are inserted as written: a value is never searched for
references itself. The ``variables`` and ``stage_variables`` fields are not searched either.

The control plane stores the config with its references; :func:`render_for_stage` gives the
concrete config a stage's edges receive: no references left, ``stage_variables`` cleared and
``variables`` holding the values in force for that stage (plugins read them).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from google.protobuf import struct_pb2
from google.protobuf.message import Message

from edgeway.common.errors import ConfigError, ConfigInvalid, join_path
from edgeway.v1.config_pb2 import GatewayConfig

__all__ = [
    "NAME_PATTERN",
    "STAGE_PATTERN",
    "check_references",
    "find_references",
    "render_defaults",
    "render_for_stage",
    "stage_values",
]

NAME_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
"""What a stage variable name looks like."""
STAGE_PATTERN = re.compile(r"[a-z][a-z0-9-]{0,31}")
"""What a stage name looks like (docs/stages.md); a key of ``stage_variables`` that is not one
could never be deployed to, so it is reported (most likely a typo)."""

_SKIPPED_FIELDS = frozenset({"variables", "stage_variables"})


@dataclass(frozen=True, slots=True)
class _Piece:
    """A part of a string: literal text, or a variable name (``name``) to substitute."""

    text: str = ""
    name: str = ""


class _SyntaxProblem(ValueError):
    """A malformed ``${...}`` in a string."""


def _split(text: str) -> list[_Piece]:
    """``text`` as literal and reference pieces; raises :class:`_SyntaxProblem`."""
    pieces: list[_Piece] = []
    literal: list[str] = []
    i = 0
    while True:
        j = text.find("$", i)
        if j < 0:
            literal.append(text[i:])
            break
        literal.append(text[i:j])
        if text.startswith("$${", j):
            literal.append("${")
            i = j + 3
        elif text.startswith("${", j):
            end = text.find("}", j + 2)
            if end < 0:
                raise _SyntaxProblem(
                    f"unclosed '${{' at character {j + 1} (write '$${{' for a literal '${{')"
                )
            inner = text[j + 2 : end]
            scope, dot, name = inner.partition(".")
            if scope != "stage" or not dot:
                raise _SyntaxProblem(
                    f"unknown reference '${{{inner}}}': only ${{stage.NAME}} is supported "
                    "(write '$${' for a literal '${')"
                )
            if not NAME_PATTERN.fullmatch(name):
                what = "an empty name" if not name else f"the invalid name {name!r}"
                raise _SyntaxProblem(
                    f"'${{{inner}}}' has {what}: stage variable names are letters, digits "
                    "and underscores, not starting with a digit"
                )
            pieces.append(_Piece(text="".join(literal)))
            literal = []
            pieces.append(_Piece(name=name))
            i = end + 1
        else:
            literal.append("$")
            i = j + 1
    pieces.append(_Piece(text="".join(literal)))
    return [p for p in pieces if p.name or p.text]


# Visitor: called with (path, text); returns the replacement or None to leave the string.
_Visit = Callable[[str, str], "str | None"]


def _walk(message: Message, path: str, visit: _Visit) -> None:
    """Call ``visit`` on every string value in ``message``, replacing where it says so."""
    if isinstance(message, struct_pb2.Struct):
        for key in sorted(message.fields):
            _walk(message.fields[key], join_path(path, key), visit)
        return
    if isinstance(message, struct_pb2.Value):
        kind = message.WhichOneof("kind")
        if kind == "string_value":
            new = visit(path, message.string_value)
            if new is not None:
                message.string_value = new
        elif kind == "struct_value":
            _walk(message.struct_value, path, visit)
        elif kind == "list_value":
            _walk(message.list_value, path, visit)
        return
    if isinstance(message, struct_pb2.ListValue):
        for index, item in enumerate(message.values):
            _walk(item, join_path(path, index), visit)
        return
    for field, value in message.ListFields():
        if path == "" and field.name in _SKIPPED_FIELDS:
            continue
        field_path = join_path(path, field.name)
        entry = field.message_type
        if entry is not None and entry.GetOptions().map_entry:
            value_field = entry.fields_by_name["value"]
            for key in sorted(value):
                item_path = join_path(field_path, key)
                if value_field.message_type is not None:
                    _walk(value[key], item_path, visit)
                elif value_field.type == value_field.TYPE_STRING:
                    new = visit(item_path, value[key])
                    if new is not None:
                        value[key] = new
        elif field.is_repeated:
            for index, item in enumerate(value):
                item_path = join_path(field_path, index)
                if field.message_type is not None:
                    _walk(item, item_path, visit)
                elif field.type == field.TYPE_STRING:
                    new = visit(item_path, item)
                    if new is not None:
                        value[index] = new
        elif field.message_type is not None:
            _walk(value, field_path, visit)
        elif field.type == field.TYPE_STRING:
            new = visit(field_path, value)
            if new is not None:
                setattr(message, field.name, new)


def _strings(config: GatewayConfig) -> list[tuple[str, str]]:
    """Every string value of ``config`` that contains a ``$``, with its path."""
    found: list[tuple[str, str]] = []

    def visit(path: str, text: str) -> None:
        if "$" in text:
            found.append((path, text))

    _walk(config, "", visit)
    return found


def find_references(config: GatewayConfig) -> list[tuple[str, str]]:
    """Every ``(path, variable name)`` referenced in ``config``, in config order.

    Strings with malformed references are skipped (:func:`check_references` reports them).
    """
    references: list[tuple[str, str]] = []
    for path, text in _strings(config):
        try:
            pieces = _split(text)
        except _SyntaxProblem:
            continue
        references.extend((path, piece.name) for piece in pieces if piece.name)
    return references


def check_references(config: GatewayConfig) -> list[ConfigError]:
    """Malformed references (``${stage.}``, ``${foo.x}``, an unclosed ``${``), invalid variable
    names in ``variables`` and ``stage_variables`` and invalid stage names, each with its path."""
    errors: list[ConfigError] = []
    for path, text in _strings(config):
        try:
            _split(text)
        except _SyntaxProblem as exc:
            errors.append(ConfigError(path, str(exc)))
    rule = "stage variable names are letters, digits and underscores, not starting with a digit"
    for name in sorted(config.variables):
        if not NAME_PATTERN.fullmatch(name):
            errors.append(ConfigError(join_path("variables", name), rule))
    for stage in sorted(config.stage_variables):
        base = join_path(join_path("stage_variables", stage), "values")
        if not STAGE_PATTERN.fullmatch(stage):
            message = (
                f"{stage!r} is not a stage name: lower-case letters, digits and '-', "
                "starting with a letter, at most 32 characters"
            )
            errors.append(ConfigError(join_path("stage_variables", stage), message))
        for name in sorted(config.stage_variables[stage].values):
            if not NAME_PATTERN.fullmatch(name):
                errors.append(ConfigError(join_path(base, name), rule))
    return errors


def stage_values(config: GatewayConfig, stage: str | None) -> dict[str, str]:
    """The variable values of ``stage``: defaults overridden by the stage's own values.

    ``stage=None`` gives the defaults alone.
    """
    values = dict(config.variables)
    if stage is not None and stage in config.stage_variables:
        values.update(config.stage_variables[stage].values)
    return values


def _render(
    config: GatewayConfig,
    values: Mapping[str, str],
    missing: Callable[[str], str],
) -> GatewayConfig:
    errors = check_references(config)
    if errors:
        raise ConfigInvalid(errors)
    result = GatewayConfig()
    result.CopyFrom(config)
    result.ClearField("variables")
    result.ClearField("stage_variables")
    result.variables.update(values)  # the values in force, for plugins (request.variables)

    def visit(path: str, text: str) -> str | None:
        if "$" not in text:
            return None
        out: list[str] = []
        for piece in _split(text):
            if not piece.name:
                out.append(piece.text)
            elif piece.name in values:
                out.append(values[piece.name])
            else:
                errors.append(ConfigError(path, missing(piece.name)))
        return "".join(out)

    _walk(result, "", visit)
    if errors:
        raise ConfigInvalid(errors)
    return result


def render_for_stage(config: GatewayConfig, stage: str) -> GatewayConfig:
    """A copy of ``config`` with every reference replaced by its value for ``stage``.

    ``$${`` becomes ``${``; ``variables`` holds the stage's values (defaults overridden by the
    stage's own) and ``stage_variables`` is cleared. Raises
    :class:`ConfigInvalid` naming every malformed or unresolved reference.
    """

    def missing(name: str) -> str:
        return (
            f"stage variable {name!r} has no value for stage {stage!r} "
            f"(set it in variables or {join_path('stage_variables', stage)})"
        )

    return _render(config, stage_values(config, stage), missing)


def render_defaults(config: GatewayConfig) -> GatewayConfig:
    """Like :func:`render_for_stage` with the default values alone (``variables``)."""

    def missing(name: str) -> str:
        return f"stage variable {name!r} has no default value (set it in variables)"

    return _render(config, stage_values(config, None), missing)

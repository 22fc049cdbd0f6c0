"""Config schema and cross-field rules of the ``request-validation`` policy."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from edgeway.edge.policies._schema import (
    END,
    HEADER_NAME,
    array,
    boolean,
    enum,
    integer,
    mapping,
    number,
    obj,
    policy_schema,
    string,
)

__all__ = ["CHECKS", "SCHEMA"]

PARAM_TYPES = ["string", "integer", "number", "boolean"]

_PARAMETER = obj("Rules of one parameter.", {
    "type": enum("Its type (integers, numbers and true/false are parsed).", PARAM_TYPES,
                 default="string"),
    "required": boolean("Whether it must be present.", default=False),
    "enum": array("Accepted values (as written in the request).",
                  string("A value.", max_length=256, min_length=0), max_items=256, min_items=1),
    "pattern": string("A regular expression the whole value must match.", max_length=512),
    "minimum": number("Smallest accepted number.", minimum=-1e15, maximum=1e15),
    "maximum": number("Largest accepted number.", minimum=-1e15, maximum=1e15),
    "min_length": integer("Fewest characters.", minimum=0, maximum=65536),
    "max_length": integer("Most characters.", minimum=0, maximum=65536),
})  # fmt: skip

SCHEMA: dict[str, Any] = policy_schema(
    "request-validation",
    "Validate requests before they reach the upstream: the JSON body against a JSON Schema"
    " (draft 2020-12), query parameters and headers against typed rules. A request that fails"
    " gets 400 invalid_request listing every violation. Validators are built once per config"
    " version.",
    {
        "body_schema": {"description": "JSON Schema (draft 2020-12) of the JSON body.",
                        "type": "object", "maxProperties": 64},
        "body_required": boolean("With `body_schema`: refuse a request without a body.",
                                 default=True),
        "content_types": array("Media types the body may have (parameters ignored).",
                               string("A media type.", max_length=128), max_items=16,
                               min_items=1, default=["application/json"]),
        "query": mapping("Query parameters by name.", _PARAMETER, max_properties=64,
                         key_pattern=r"^[^\x00-\x20&=#]+" + END, default={}),
        "headers": mapping("Headers by name.", _PARAMETER, max_properties=64,
                           key_pattern=HEADER_NAME, default={}),
        "allow_unknown_query": boolean("Accept query parameters that `query` does not name.",
                                       default=True),
        "max_body_bytes": integer("Largest body read for validation (413 beyond).", minimum=1,
                                  maximum=64 << 20, default=1 << 20),
    },
)  # fmt: skip


def body_schema_is_valid(config: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """The body schema must itself be a valid JSON Schema."""
    if "body_schema" in config:
        try:
            Draft202012Validator.check_schema(config["body_schema"])
        except SchemaError as exc:
            where = "".join(f".{p}" for p in exc.path)
            yield f"body_schema{where}", f"is not a valid JSON Schema: {exc.message}"


def parameter_rules_are_consistent(config: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """Patterns compile; bounds are ordered; numeric bounds only on numbers."""
    for section in ("query", "headers"):
        for name, rules in config.get(section, {}).items():
            where = f"{section}.{name}"
            if "pattern" in rules:
                try:
                    re.compile(rules["pattern"])
                except re.error as exc:
                    yield f"{where}.pattern", f"is not a valid regular expression: {exc}"
            numeric = rules.get("type", "string") in ("integer", "number")
            for bound in ("minimum", "maximum"):
                if bound in rules and not numeric:
                    yield f"{where}.{bound}", "applies to integer and number parameters only"
            if rules.get("minimum", -1e16) > rules.get("maximum", 1e16):
                yield f"{where}.maximum", "must be at least minimum"
            if rules.get("min_length", 0) > rules.get("max_length", 65536):
                yield f"{where}.max_length", "must be at least min_length"


CHECKS = (body_schema_is_valid, parameter_rules_are_consistent)

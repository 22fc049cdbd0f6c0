"""Synthetic policy packages (plain module objects) for registry and compile tests."""

from __future__ import annotations

import types
from collections.abc import Iterable
from typing import Any

from edgeway.edge.policies import Phase, PolicyHandler

RATE_LIMIT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "required": ["limit"],
    "properties": {
        "limit": {
            "description": "Requests per window.",
            "type": "object",
            "additionalProperties": False,
            "required": ["count"],
            "properties": {
                "count": {"description": "How many.", "type": "integer", "minimum": 1},
                "window": {
                    "description": "Window.",
                    "type": "string",
                    "enum": ["second", "minute"],
                    "default": "second",
                },
            },
        },
        "by": {
            "description": "Keys to count by.",
            "type": "array",
            "items": {"type": "string", "minLength": 1},
            "default": ["consumer"],
        },
    },
}


def policy_module(
    name: str = "rate-limit",
    *,
    phase: Phase = Phase.RATE_LIMIT,
    priority: int = 900,
    schema: dict[str, Any] | None = None,
    omit: Iterable[str] = (),
    checks: tuple[Any, ...] = (),
) -> types.ModuleType:
    """A policy package named after ``name`` declaring a handler, schema and checks.

    ``omit`` removes declarations: ``"NAME"``, ``"VERSION"``, ``"PHASE"``, ``"PRIORITY"``
    (from the handler), ``"HANDLER"``, ``"SCHEMA"`` (from the module).
    """
    omitted = set(omit)
    attrs: dict[str, Any] = {"NAME": name, "VERSION": "1.0.0", "PHASE": phase, "PRIORITY": priority}
    handler = type(
        "FakeHandler",
        (PolicyHandler,),
        {key: value for key, value in attrs.items() if key not in omitted},
    )
    module = types.ModuleType(f"fake_policies.{name.replace('-', '_')}")
    if "HANDLER" not in omitted:
        module.HANDLER = handler  # type: ignore[attr-defined]
    if "SCHEMA" not in omitted:
        module.SCHEMA = RATE_LIMIT_SCHEMA if schema is None else schema  # type: ignore[attr-defined]
    if checks:
        module.CHECKS = checks  # type: ignore[attr-defined]
    return module

"""Every built-in policy's schema: fields described, typed, bounded; declarations in order."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from edgeway.edge.policies import Phase, builtin_registry
from edgeway.edge.policies.registry import PolicySpec

EXPECTED = (
    "correlation-id", "ip-restriction", "request-size-limit", "cors", "jwt", "key-auth",
    "basic-auth", "acl", "rate-limit", "usage-plan", "request-termination", "redirect",
    "request-validation", "cache", "request-transform", "response-transform",
)  # fmt: skip
SPECS = list(builtin_registry())


def fields(schema: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every declared field of ``schema`` with its dotted path (nested objects, map values)."""
    for name, prop in schema.get("properties", {}).items():
        where = f"{path}.{name}" if path else name
        yield where, prop
        if prop.get("type") == "object" and "properties" in prop:
            yield from fields(prop, where)
        values = prop.get("additionalProperties")
        if isinstance(values, dict) and "properties" in values:
            yield from fields(values, where + ".*")


def test_the_registry_holds_every_policy_in_phase_order() -> None:
    assert builtin_registry().names() == EXPECTED


@pytest.mark.parametrize("found", SPECS, ids=lambda s: s.name)
def test_every_field_is_described_typed_and_bounded(found: PolicySpec) -> None:
    assert found.schema["additionalProperties"] is False
    assert found.schema.get("description")
    for where, prop in fields(dict(found.schema)):
        assert prop.get("description"), where
        assert prop.get("type"), where
        kind = prop["type"]
        if kind == "string" and "enum" not in prop:
            assert "maxLength" in prop, where
        if kind in ("integer", "number") and "enum" not in prop:
            assert "maximum" in prop, where
            assert "minimum" in prop or "exclusiveMinimum" in prop, where
        if kind == "array":
            assert "maxItems" in prop, where
        if kind == "object" and prop.get("additionalProperties") is not False:
            assert "maxProperties" in prop, where


@pytest.mark.parametrize("found", SPECS, ids=lambda s: s.name)
def test_defaults_are_valid_configs(found: PolicySpec) -> None:
    """A default must pass the field's own schema (a default the schema refuses is a bug)."""
    for where, prop in fields(dict(found.schema)):
        if "default" in prop:
            sub = {"$schema": found.schema["$schema"], "type": "object",
                   "properties": {"v": prop}}  # fmt: skip
            assert not list(Draft202012Validator(sub).iter_errors({"v": prop["default"]})), where


def test_auth_runs_before_authorization_and_limits() -> None:
    phases = {spec.name: spec.phase for spec in SPECS}
    assert phases["key-auth"] == phases["jwt"] == phases["basic-auth"] == Phase.AUTHENTICATION
    assert phases["acl"] == Phase.AUTHORIZATION
    assert phases["cors"].rank < Phase.AUTHENTICATION.rank
    assert phases["correlation-id"] == Phase.IP_RESTRICTION

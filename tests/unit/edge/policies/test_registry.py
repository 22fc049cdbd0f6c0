"""The policy registry: discovery, refusal of malformed policies, order, cached validators."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from edgeway.edge.policies import Phase, PolicyLoadError, PolicyRegistry, builtin_registry
from edgeway.edge.policies.registry import spec_from_module
from tests.unit.edge.fakes import RATE_LIMIT_SCHEMA, policy_module


def test_the_builtin_registry_holds_the_implemented_policies() -> None:
    assert "request-termination" in builtin_registry().names()


def test_the_builtin_registry_is_built_once() -> None:
    assert builtin_registry() is builtin_registry()


def test_a_valid_policy_package_loads() -> None:
    spec = spec_from_module(policy_module())
    assert (spec.name, spec.version, spec.phase, spec.priority) == (
        "rate-limit", "1.0.0", Phase.RATE_LIMIT, 900,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("omit", "missing"),
    [
        (["NAME"], "name"),
        (["VERSION"], "version"),
        (["PHASE"], "phase"),
        (["PRIORITY"], "priority"),
        (["SCHEMA"], "schema (SCHEMA)"),
        (["VERSION", "SCHEMA"], "version, schema (SCHEMA)"),
    ],
)
def test_a_policy_missing_a_declaration_is_refused_naming_it(omit: list[str], missing: str) -> None:
    with pytest.raises(PolicyLoadError) as caught:
        spec_from_module(policy_module(omit=omit))
    assert str(caught.value) == f"policy 'fake_policies.rate_limit' is missing: {missing}"


def test_a_policy_without_a_handler_is_refused() -> None:
    with pytest.raises(PolicyLoadError, match=r"is missing: handler \(HANDLER\), name, version"):
        spec_from_module(policy_module(omit=["HANDLER"]))


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"name": "Rate_Limit"}, "name must be lower-case words joined by '-'"),
        ({"priority": "high"}, "priority must be an integer"),
        ({"phase": "rate-limit"}, "phase must be a Phase"),
        ({"schema": {"type": "object"}}, 'schema must be {"type": "object", '),
        ({"schema": {"type": 5, "additionalProperties": False}}, "schema is not a valid JSON"),
    ],
)
def test_a_malformed_declaration_is_refused_saying_why(
    kwargs: dict[str, Any], problem: str
) -> None:
    with pytest.raises(PolicyLoadError) as caught:
        spec_from_module(policy_module(**kwargs))
    assert problem in str(caught.value)


def test_a_package_must_be_named_after_its_policy() -> None:
    module = policy_module()
    module.__name__ = "fake_policies.throttle"
    with pytest.raises(PolicyLoadError, match="its package must be named 'rate_limit'"):
        spec_from_module(module)


def test_a_policy_name_declared_twice_is_refused() -> None:
    with pytest.raises(PolicyLoadError, match="policy name 'rate-limit' is declared twice"):
        PolicyRegistry.from_modules([policy_module(), policy_module()])


def test_policies_are_sorted_by_phase_then_priority() -> None:
    registry = PolicyRegistry.from_modules([
        policy_module("cors", phase=Phase.CORS, priority=1),
        policy_module("rate-limit", phase=Phase.RATE_LIMIT, priority=900),
        policy_module("key-auth", phase=Phase.AUTHENTICATION, priority=10),
        policy_module("basic-auth", phase=Phase.AUTHENTICATION, priority=20),
    ])  # fmt: skip
    assert registry.names() == ("cors", "basic-auth", "key-auth", "rate-limit")
    assert [spec.name for spec in registry] == list(registry.names())
    assert len(registry) == 4


def test_get_returns_the_spec_or_none() -> None:
    registry = PolicyRegistry.from_modules([policy_module()])
    assert registry.get("rate-limit") is not None
    assert registry.get("nope") is None
    assert "rate-limit" in registry


def test_the_validator_is_built_once_per_policy() -> None:
    registry = PolicyRegistry.from_modules([policy_module()])
    assert registry.validator("rate-limit") is registry.validator("rate-limit")
    assert registry.validator("rate-limit").schema == RATE_LIMIT_SCHEMA


def test_defaults_are_filled_in_from_the_schema() -> None:
    spec = spec_from_module(policy_module())
    assert spec.with_defaults({"limit": {"count": 1}}) == {
        "limit": {"count": 1},
        "by": ["consumer"],
    }


def test_cross_field_checks_run_only_on_a_schema_valid_config() -> None:
    def no_by(config: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
        if "by" in config:
            yield "by", "not supported here"

    spec = spec_from_module(policy_module(checks=(no_by,)))
    assert spec.validate({"limit": {"count": 1}, "by": []}) == [(("by",), "not supported here")]
    assert spec.validate({"by": []}) == [(("limit",), "is required")]


def test_checks_must_be_a_tuple_of_functions() -> None:
    with pytest.raises(PolicyLoadError, match="CHECKS must be a tuple of functions"):
        spec_from_module(policy_module(checks=("nope",)))


def test_phases_know_their_order() -> None:
    assert Phase.AUTHENTICATION.rank < Phase.RATE_LIMIT.rank < Phase.PLUGINS.rank
    assert not Phase.PLUGINS.on_response
    assert Phase.LOG.on_response

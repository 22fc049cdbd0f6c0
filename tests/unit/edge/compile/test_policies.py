"""Policy instances (global, route, consumer) and plugin endpoints."""

from __future__ import annotations

from typing import Any

import pytest

from edgeway.edge.compile import compile_config, compile_errors
from edgeway.edge.compile.policies import CONTEXT_PREFIX_RULE
from edgeway.edge.policies import PolicyRegistry, builtin_registry, request_termination
from edgeway.edge.policies.request_termination import RequestTerminationHandler
from tests.unit.configs import base, compiled, problems, to_config
from tests.unit.edge.fakes import policy_module

REGISTRY = PolicyRegistry.from_modules([policy_module(), request_termination])


def with_registry(data: dict[str, Any]) -> list[str]:
    """Errors of ``data`` with a registry that also holds a (fake) rate-limit policy."""
    return [str(e) for e in compile_errors(to_config(data), REGISTRY)]


def route_policies(*policies: dict[str, Any], **extra: Any) -> dict[str, Any]:
    data = base(**extra)
    data["routes"][0]["policies"] = list(policies)
    return data


def test_a_built_in_policy_with_a_valid_config_is_accepted() -> None:
    data = route_policies({"name": "request-termination", "config": {"status_code": 410}})
    (step,) = compiled(data).routes[0].policies
    assert isinstance(step.handler, RequestTerminationHandler)
    assert step.handler.response.status == 410
    assert step.config["message"] == "Service unavailable"


def test_an_unknown_policy_name_gets_a_suggestion() -> None:
    data = route_policies({"name": "request-termination"}, {"name": "rate-limt"})
    assert with_registry(data) == [
        "routes[0].policies[1].name: unknown policy 'rate-limt' (did you mean 'rate-limit'?)"
    ]


def test_an_unknown_policy_name_without_a_close_one_lists_what_exists() -> None:
    builtins = ", ".join(builtin_registry().names())
    assert problems(route_policies({"name": "zzz"})) == [
        f"routes[0].policies[0].name: unknown policy 'zzz' "
        f"(built-in policies: {builtins}; plugins: none)"
    ]


def test_a_policy_name_is_required() -> None:
    assert problems(route_policies({"config": {}})) == [
        "routes[0].policies[0].name: a policy name is required"
    ]


def test_a_schema_violation_names_the_nested_field() -> None:
    data = route_policies(
        {"name": "request-termination"},
        {"name": "rate-limit", "config": {"limit": {"count": 0, "window": "hour"}, "by": [""]}},
    )
    assert with_registry(data) == [
        "routes[0].policies[1].config.by[0]: must not be empty",
        "routes[0].policies[1].config.limit.count: must be at least 1",
        "routes[0].policies[1].config.limit.window: must be one of second, minute",
    ]


def test_a_missing_required_field_is_named() -> None:
    data = route_policies({"name": "rate-limit", "config": {"limit": {}}})
    assert with_registry(data) == ["routes[0].policies[0].config.limit.count: is required"]


def test_an_unknown_config_field_gets_a_suggestion() -> None:
    data = route_policies({"name": "request-termination", "config": {"status": 500}})
    assert problems(data) == [
        'routes[0].policies[0].config.status: unknown field (did you mean "status_code"?)'
    ]


def test_a_wrong_config_type_is_named_in_plain_words() -> None:
    data = route_policies({"name": "request-termination", "config": {"status_code": "503"}})
    assert problems(data) == [
        "routes[0].policies[0].config.status_code: expected an integer, got string"
    ]


def test_cross_field_rules_run_after_the_schema() -> None:
    config = {"message": "a", "body": "b"}
    assert problems(route_policies({"name": "request-termination", "config": config})) == [
        "routes[0].policies[0].config.body: set either message or body, not both"
    ]


def test_global_and_consumer_policies_are_validated_too() -> None:
    bad = {"name": "request-termination", "config": {"status_code": 1000}}
    data = base(policies=[bad], consumers=[{"name": "c", "policies": [bad]}])
    assert problems(data) == [
        "consumers[0].policies[0].config.status_code: must be at most 599",
        "policies[0].config.status_code: must be at most 599",
    ]


def test_a_disabled_instance_is_validated_but_left_out_of_the_chain() -> None:
    disabled = {"name": "request-termination", "enabled": False}
    assert compiled(route_policies(disabled)).routes[0].policies == ()
    bad = {"name": "request-termination", "enabled": False, "config": {"x": 1}}
    assert problems(route_policies(bad)) == [
        "routes[0].policies[0].config.x: unknown field (known fields: body, content_type, "
        "message, status_code)"
    ]


def test_a_plugin_policy_config_is_passed_through_unvalidated() -> None:
    data = route_policies(
        {"name": "audit", "config": {"anything": [1, 2]}},
        plugins=[{"name": "audit", "endpoints": ["127.0.0.1:7000"]}],
    )
    (step,) = compiled(data).routes[0].policies
    assert step.plugin == "audit"
    assert step.config == {"anything": (1, 2)}


def test_chains_run_in_phase_order_then_priority() -> None:
    data = route_policies(
        {"name": "audit"},
        {"name": "rate-limit", "config": {"limit": {"count": 5}}},
        {"name": "request-termination"},
        plugins=[{"name": "audit", "endpoints": ["127.0.0.1:7000"]}],
    )
    steps = compile_config(to_config(data), REGISTRY).routes[0].policies
    assert [s.name for s in steps] == ["rate-limit", "request-termination", "audit"]
    assert steps[0].config == {"limit": {"count": 5}, "by": ("consumer",)}


def test_the_consumer_chain_is_kept_on_the_consumer() -> None:
    data = base(consumers=[{"name": "c", "policies": [{"name": "request-termination"}]}])
    (step,) = compiled(data).consumers["c"].policies
    assert step.source == "consumers[0].policies[0]"


# -- plugin endpoints ---------------------------------------------------------------------


def plugin_problems(*plugins: dict[str, Any]) -> list[str]:
    return problems(base(plugins=list(plugins)))


def plugin(**fields: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"name": "audit", "endpoints": ["127.0.0.1:7000"]}
    data.update(fields)
    return data


def test_plugin_names_are_required_unique_and_not_built_in() -> None:
    assert plugin_problems(
        plugin(name=""), plugin(), plugin(), plugin(name="request-termination")
    ) == [
        "plugins[0].name: a plugin name is required",
        "plugins[2].name: duplicate plugin name 'audit' (also plugins[1])",
        "plugins[3].name: 'request-termination' is a built-in policy: give the plugin another name",
    ]


def test_a_plugin_needs_host_and_port_endpoints() -> None:
    assert plugin_problems(plugin(endpoints=[]), plugin(name="b", endpoints=["nohost"])) == [
        "plugins[0].endpoints: a plugin needs at least one host:port endpoint",
        "plugins[1].endpoints[0]: expected HOST:PORT, got 'nohost'",
    ]


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"timeout_ms": 60_001}, "timeout_ms: must be between 1 and 60000 (0 or unset: default)"),
        ({"timeout_ms": -1}, "timeout_ms: must be between 1 and 60000 (0 or unset: default)"),
        ({"failure_mode": "half-open"},
         "failure_mode: must be one of closed, open (got 'half-open')"),
        ({"cache_ttl_ms": -1}, "cache_ttl_ms: must be between 0 (no cache) and 86400000"),
        ({"context_header_prefix": "X-Ctx-"}, f"context_header_prefix: {CONTEXT_PREFIX_RULE}"),
        ({"context_header_prefix": "x ctx"}, f"context_header_prefix: {CONTEXT_PREFIX_RULE}"),
        ({"context_header_prefix": "-x"}, f"context_header_prefix: {CONTEXT_PREFIX_RULE}"),
    ],
)  # fmt: skip
def test_plugin_settings_stay_within_bounds(fields: dict[str, Any], error: str) -> None:
    assert plugin_problems(plugin(**fields)) == [f"plugins[0].{error}"]


def test_plugin_settings_default_sensibly() -> None:
    audit = compiled(base(plugins=[plugin()])).plugins["audit"]
    assert (audit.timeout_ms, audit.failure_mode, audit.cache_ttl_ms) == (200, "closed", 0)
    assert audit.endpoints == (("127.0.0.1", 7000),)
    assert (audit.context_header_prefix, audit.concurrent) == ("x-edgeway-context-", False)


def test_context_headers_can_be_renamed_or_turned_off_and_calls_made_concurrent() -> None:
    plugins = compiled(base(plugins=[
        plugin(name="a", context_header_prefix="x-auth-", concurrent=True),
        plugin(name="b", context_header_prefix=""),
    ])).plugins  # fmt: skip
    assert (plugins["a"].context_header_prefix, plugins["a"].concurrent) == ("x-auth-", True)
    assert plugins["b"].context_header_prefix == ""


def test_the_builtin_registry_is_the_default() -> None:
    assert compile_errors(to_config(base()), builtin_registry()) == []

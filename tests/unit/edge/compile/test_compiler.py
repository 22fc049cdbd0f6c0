"""compile_config as a whole: what a valid config compiles to, and all errors at once."""

from __future__ import annotations

import dataclasses
import hashlib

import pytest

from edgeway.common.config.loading import parse_config_text
from edgeway.common.config.secrets import hash_api_key
from edgeway.common.errors import ConfigInvalid
from edgeway.edge.compile import CompiledConfig, LocalResponse, compile_config, compile_errors
from edgeway.edge.compile.compiler import MAX_ERRORS
from edgeway.edge.policies import Phase
from tests.unit.configs import (
    MINIMAL_YAML,
    base,
    compiled,
    problems,
    route,
    to_config,
    with_routes,
)


def test_the_minimal_config_is_accepted_as_written() -> None:
    result = compile_config(parse_config_text(MINIMAL_YAML))
    (users,) = result.routes
    assert users.id == "users-api"
    assert users.upstream is result.upstreams["users"]
    assert users.match.paths[0].match("/users/7") == {}


def test_the_compiled_config_is_immutable() -> None:
    result = compiled(base())
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.routes[0].id = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        result.upstreams["x"] = result.upstreams["users"]  # type: ignore[index]


def test_routes_keep_config_order_and_are_found_by_id() -> None:
    result = compiled(with_routes(route(id="b", paths=["/b"]), route(id="a", paths=["/a"])))
    assert [r.id for r in result.routes] == ["users-api", "b", "a"]
    assert [r.index for r in result.routes] == [0, 1, 2]
    assert result.routes_by_id["a"] is result.routes[2]


def test_target_weights_default_to_one() -> None:
    data = base(upstreams=[{"name": "users", "targets": [
        {"address": "a:1"}, {"address": "b:2", "weight": 0}, {"address": "c:3", "weight": 5},
    ]}])  # fmt: skip
    targets = compiled(data).upstreams["users"].targets
    assert [(t.host, t.port, t.weight) for t in targets] == [("a", 1, 1), ("b", 2, 0), ("c", 3, 5)]


def test_consumers_are_indexed_by_key_hash_whether_or_not_secrets_were_normalized() -> None:
    data = base(consumers=[
        {"name": "alice", "credentials": [{"type": "key-auth", "key": "alice-key"}]},
        {"name": "bob", "credentials": [{"type": "key-auth", "key_hash": hash_api_key("bob")}]},
    ])  # fmt: skip
    credentials = compiled(data).credentials
    index = credentials.by_key_hash
    assert index[hash_api_key("alice-key")].consumer.name == "alice"
    assert index[hash_api_key("bob")].consumer.name == "bob"
    by_digest = credentials.by_key_digest
    assert by_digest[hashlib.sha256(b"alice-key").digest()] is index[hash_api_key("alice-key")]
    assert len(by_digest) == 2


def test_a_mock_route_is_pre_rendered() -> None:
    data = base(routes=[{"id": "status", "paths": ["/status"], "mock": {
        "status": 201, "headers": {"X-Mock": "yes"}, "json": {"b": 1, "a": [True, None]},
    }}])  # fmt: skip
    mock = compiled(data).routes[0].mock
    assert mock == LocalResponse(
        status=201,
        headers=(("x-mock", "yes"), ("content-type", "application/json")),
        body=b'{"a":[true,null],"b":1}',
    )


def test_a_mock_without_status_answers_200_with_its_raw_body() -> None:
    data = base(routes=[{"id": "m", "paths": ["/m"], "mock": {"body": "hi"}}])
    assert compiled(data).routes[0].mock == LocalResponse(200, (), b"hi")


def test_policy_chains_are_global_then_route_policies_in_phase_order() -> None:
    data = base(
        plugins=[{"name": "audit", "endpoints": ["127.0.0.1:9000"]}],
        policies=[{"name": "audit", "config": {"level": "full"}}],
    )
    data["routes"][0]["policies"] = [{"name": "request-termination"}]
    steps = compiled(data).routes[0].policies
    assert [(s.name, s.phase) for s in steps] == [
        ("request-termination", Phase.VALIDATION),
        ("audit", Phase.PLUGINS),
    ]
    assert steps[0].source == "routes[0].policies[0]"
    assert steps[1].plugin == "audit"
    assert steps[1].config == {"level": "full"}


def test_a_config_with_five_different_problems_reports_five_errors() -> None:
    data = base(usage_plans=[{"name": "gold", "throttle": {"rate": 0}}])
    data["routes"].append(route(id="users-api"))
    data["routes"].append(route(id="orders", upstream="orderz"))
    data["upstreams"][0]["targets"][0]["address"] = "127.0.0.1"
    data["consumers"] = [{"name": "c", "usage_plan": "silver"}]
    assert problems(data) == [
        "routes[1].id: duplicate route id 'users-api' (also routes[0])",
        "routes[2].upstream: unknown upstream 'orderz' (known: users)",
        "upstreams[0].targets[0].address: expected HOST:PORT, got '127.0.0.1'",
        "consumers[0].usage_plan: unknown usage plan 'silver' (known: gold)",
        "usage_plans[0].throttle.rate: must be above 0 and at most 1e+09",
    ]


def test_compile_config_raises_every_error_at_once() -> None:
    data = with_routes(route(id="BAD"), route(id="x", upstream="nope"))
    with pytest.raises(ConfigInvalid) as caught:
        compile_config(to_config(data))
    assert [e.path for e in caught.value.errors] == ["routes[1].id", "routes[2].upstream"]


def test_the_number_of_listed_errors_is_capped() -> None:
    data = base()
    data["routes"] = [route(id=f"BAD{i}") for i in range(MAX_ERRORS + 3)]
    errors = compile_errors(to_config(data))
    assert len(errors) == MAX_ERRORS + 1
    assert errors[-1].message == "... and 3 more errors"


def test_an_empty_config_compiles_to_nothing() -> None:
    result = compile_config(parse_config_text("{}"))
    assert isinstance(result, CompiledConfig)
    assert result.routes == ()
    assert not result.upstreams

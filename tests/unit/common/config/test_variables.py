"""Stage variables: finding references, syntax errors, rendering for a stage."""

from __future__ import annotations

import pytest

from edgeway.common.config.loading import parse_config_text
from edgeway.common.config.variables import (
    check_references,
    find_references,
    render_defaults,
    render_for_stage,
    stage_values,
)
from edgeway.common.errors import ConfigInvalid
from edgeway.v1.config_pb2 import GatewayConfig

STAGED_YAML = """\
variables: {host: "127.0.0.1", port: "8001"}
stage_variables:
  prod: {values: {host: "10.0.3.7"}}
  dev: {values: {}}
upstreams:
  - name: users
    targets: [{address: "${stage.host}:${stage.port}"}]
routes:
  - id: users-api
    paths: ["/users", "/price/$${literal}"]
    upstream: users
    policies:
      - name: request-termination
        config: {message: "down on ${stage.host}", nested: [{deep: "${stage.port}"}]}
    tags: {owner: "team-${stage.port}"}
"""


def staged() -> GatewayConfig:
    return parse_config_text(STAGED_YAML)


def messages(error: pytest.ExceptionInfo[ConfigInvalid]) -> list[str]:
    return [str(e) for e in error.value.errors]


def test_references_are_found_in_every_string_with_their_paths() -> None:
    assert find_references(staged()) == [  # in field-number order: routes, then upstreams
        ("routes[0].policies[0].config.message", "host"),
        ("routes[0].policies[0].config.nested[0].deep", "port"),
        ("routes[0].tags.owner", "port"),
        ("upstreams[0].targets[0].address", "host"),
        ("upstreams[0].targets[0].address", "port"),
    ]


def test_a_doubled_dollar_is_not_a_reference() -> None:
    config = parse_config_text("routes: [{id: a, paths: ['/$${stage.x}']}]")
    assert find_references(config) == []
    assert check_references(config) == []


def test_malformed_references_are_reported_with_their_paths() -> None:
    config = parse_config_text(
        "routes: [{id: '${stage.}', paths: ['${foo.x}', '/a/${stage.host', '${stage.9x}']}]"
    )
    errors = [str(e) for e in check_references(config)]
    assert errors == [
        "routes[0].id: '${stage.}' has an empty name: stage variable names are letters, "
        "digits and underscores, not starting with a digit",
        "routes[0].paths[0]: unknown reference '${foo.x}': only ${stage.NAME} is supported "
        "(write '$${' for a literal '${')",
        "routes[0].paths[1]: unclosed '${' at character 4 (write '$${' for a literal '${')",
        "routes[0].paths[2]: '${stage.9x}' has the invalid name '9x': stage variable names "
        "are letters, digits and underscores, not starting with a digit",
    ]


def test_invalid_variable_names_are_reported() -> None:
    config = parse_config_text(
        "variables: {'bad-name': x, good_name: y}\nstage_variables: {prod: {values: {'9': y}}}"
    )
    assert [e.path for e in check_references(config)] == [
        "variables.bad-name",
        "stage_variables.prod.values.9",
    ]


def test_stage_names_follow_the_stage_naming_rule() -> None:
    config = parse_config_text("stage_variables: {prod: {}, Prod: {}, '': {}}")
    assert [str(e) for e in check_references(config)] == [
        "stage_variables[\"\"]: '' is not a stage name: lower-case letters, digits and '-', "
        "starting with a letter, at most 32 characters",
        "stage_variables.Prod: 'Prod' is not a stage name: lower-case letters, digits and '-', "
        "starting with a letter, at most 32 characters",
    ]


def test_stage_values_override_the_defaults() -> None:
    assert stage_values(staged(), "prod") == {"host": "10.0.3.7", "port": "8001"}
    assert stage_values(staged(), "qa") == {"host": "127.0.0.1", "port": "8001"}
    assert stage_values(staged(), None) == {"host": "127.0.0.1", "port": "8001"}


def test_rendering_substitutes_every_reference_for_the_stage() -> None:
    rendered = render_for_stage(staged(), "prod")
    assert rendered.upstreams[0].targets[0].address == "10.0.3.7:8001"
    config = rendered.routes[0].policies[0].config
    assert config["message"] == "down on 10.0.3.7"
    assert config.fields["nested"].list_value.values[0].struct_value["deep"] == "8001"
    assert rendered.routes[0].tags["owner"] == "team-8001"


def test_rendering_turns_a_doubled_dollar_into_a_literal_one() -> None:
    assert render_for_stage(staged(), "dev").routes[0].paths[1] == "/price/${literal}"


def test_the_rendered_config_has_no_references_left_and_keeps_the_stage_values() -> None:
    rendered = render_for_stage(staged(), "prod")
    assert dict(rendered.variables) == stage_values(staged(), "prod")
    assert rendered.variables
    assert not rendered.stage_variables
    assert find_references(rendered) == []


def test_rendering_leaves_its_input_unchanged() -> None:
    config = staged()
    render_for_stage(config, "prod")
    assert config == staged()


def test_a_variable_value_is_inserted_as_written() -> None:
    config = parse_config_text("variables: {v: '${stage.v}'}\nroutes: [{id: '${stage.v}'}]")
    assert render_defaults(config).routes[0].id == "${stage.v}"


def test_an_unresolved_reference_names_each_path_variable_and_stage() -> None:
    config = parse_config_text(
        "stage_variables: {dev: {values: {host: a}}}\n"
        "routes: [{id: r, upstream: '${stage.host}', paths: ['/${stage.host}']}]"
    )
    with pytest.raises(ConfigInvalid) as caught:
        render_for_stage(config, "prod")
    assert messages(caught) == [
        "routes[0].paths[0]: stage variable 'host' has no value for stage 'prod' "
        "(set it in variables or stage_variables.prod)",
        "routes[0].upstream: stage variable 'host' has no value for stage 'prod' "
        "(set it in variables or stage_variables.prod)",
    ]


def test_rendering_the_defaults_needs_every_variable_defaulted() -> None:
    config = parse_config_text("routes: [{id: '${stage.name}'}]")
    with pytest.raises(ConfigInvalid) as caught:
        render_defaults(config)
    assert messages(caught) == [
        "routes[0].id: stage variable 'name' has no default value (set it in variables)"
    ]


def test_rendering_refuses_malformed_references() -> None:
    with pytest.raises(ConfigInvalid) as caught:
        render_for_stage(parse_config_text("routes: [{id: '${x}'}]"), "prod")
    assert [e.path for e in caught.value.errors] == ["routes[0].id"]

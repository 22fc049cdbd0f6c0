"""check_config: a config with stage variables, checked for every stage it names."""

from __future__ import annotations

from edgeway.common.config.loading import parse_config_text
from edgeway.edge.compile import check_config

STAGED = """\
variables: {target: "127.0.0.1:8001"}
stage_variables:
  prod: {values: {target: "10.0.3.7:8001"}}
  dev: {values: {}}
upstreams:
  - name: users
    targets: [{address: "${stage.target}"}]
routes:
  - {id: users-api, paths: ["/users"], upstream: users}
"""


def check(text: str) -> list[str]:
    return [str(error) for error in check_config(parse_config_text(text))]


def test_a_config_valid_in_every_stage_has_no_errors() -> None:
    assert check(STAGED) == []


def test_the_example_config_is_valid() -> None:
    with open("deploy/examples/gateway.yaml", encoding="utf-8") as example:
        assert check(example.read()) == []


def test_reference_syntax_errors_come_alone() -> None:
    assert check(STAGED.replace("${stage.target}", "${stage.}") + "  - {id: BAD}\n") == [
        "upstreams[0].targets[0].address: '${stage.}' has an empty name: stage variable names "
        "are letters, digits and underscores, not starting with a digit"
    ]


def test_a_reference_defined_nowhere_is_reported_at_its_path() -> None:
    text = STAGED.replace('paths: ["/users"]', 'paths: ["/${stage.prefix}"]')
    assert check(text) == [
        "routes[0].paths[0]: undefined stage variable 'prefix' "
        "(define it in variables or stage_variables)"
    ]


def test_a_variable_missing_for_one_stage_names_that_stage() -> None:
    text = STAGED.replace('variables: {target: "127.0.0.1:8001"}', "variables: {}")
    assert check(text) == [
        "upstreams[0].targets[0].address: (stage dev) stage variable 'target' has no value for "
        "stage 'dev' (set it in variables or stage_variables.dev)"
    ]


def test_an_error_in_one_stage_rendering_is_prefixed_with_the_stage() -> None:
    text = STAGED.replace('"10.0.3.7:8001"', '"10.0.3.7"')
    assert check(text) == [
        "upstreams[0].targets[0].address: (stage prod) expected HOST:PORT, got '10.0.3.7'"
    ]


def test_an_error_in_every_rendering_is_reported_once_without_prefix() -> None:
    assert check(STAGED + '  - {id: users-api, paths: ["/x"], upstream: users}\n') == [
        "routes[1].id: duplicate route id 'users-api' (also routes[0])"
    ]


def test_an_error_only_with_the_default_values_is_labelled() -> None:
    text = STAGED.replace("{values: {}}", '{values: {target: "10.0.0.9:1"}}').replace(
        '"127.0.0.1:8001"', '"nowhere"'
    )
    assert check(text) == [
        "upstreams[0].targets[0].address: (default values) expected HOST:PORT, got 'nowhere'"
    ]


def test_a_config_without_references_is_compiled_as_is() -> None:
    text = 'routes: [{id: r, paths: ["/r"], upstream: nope, tags: {note: "$${x}"}}]'
    assert check(text) == ["routes[0].upstream: unknown upstream 'nope' (none are defined)"]

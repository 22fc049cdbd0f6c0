"""Operator text to GatewayConfig: syntax errors, structural errors with paths, round trips."""

from __future__ import annotations

from typing import Any

import pytest

from edgeway.common.config.loading import (
    MAX_ERRORS,
    config_from_dict,
    config_to_dict,
    config_to_yaml,
    parse_config_text,
)
from edgeway.common.errors import ConfigError, ConfigInvalid
from tests.unit.configs import MINIMAL_YAML


def errors_of(text: str | bytes, **kwargs: Any) -> list[str]:
    with pytest.raises(ConfigInvalid) as caught:
        parse_config_text(text, **kwargs)
    return [str(error) for error in caught.value.errors]


def dict_errors(data: object) -> list[str]:
    with pytest.raises(ConfigInvalid) as caught:
        config_from_dict(data)
    return [str(error) for error in caught.value.errors]


# -- text ---------------------------------------------------------------------------------


def test_the_minimal_config_is_read_as_written() -> None:
    config = parse_config_text(MINIMAL_YAML)
    assert config.routes[0].id == "users-api"
    assert list(config.routes[0].paths) == ["/users"]
    assert config.upstreams[0].targets[0].address == "127.0.0.1:8001"
    assert config.upstreams[0].targets[0].weight == 1


def test_broken_yaml_is_one_error_with_line_and_column() -> None:
    (error,) = errors_of("routes:\n  - id: a\n    paths: [/a\n")
    assert error.startswith("invalid YAML at line 4, column 1: ")


def test_a_duplicate_yaml_key_is_refused_with_both_lines() -> None:
    text = "routes:\n  - id: a\n    paths: [/a]\n    id: b\n"
    assert errors_of(text) == [
        "invalid YAML at line 4, column 5: duplicate key 'id' (first defined at line 2)"
    ]


def test_yaml_merge_keys_may_override_merged_values() -> None:
    text = (
        "upstreams:\n  - &u {name: users, targets: [{address: 'h:1'}]}\n"
        "  - {<<: *u, name: orders}\n"
    )
    assert [u.name for u in parse_config_text(text).upstreams] == ["users", "orders"]


def test_the_source_name_is_added_to_syntax_errors() -> None:
    (error,) = errors_of("a: [", source="gateway.yaml")
    assert error.startswith("invalid YAML at line")
    assert error.endswith("(in gateway.yaml)")


def test_python_specific_yaml_tags_are_refused() -> None:
    (error,) = errors_of("routes: !!python/object:os.system {}")
    assert "could not determine a constructor" in error


def test_an_empty_document_is_refused() -> None:
    assert errors_of("  \n# nothing\n") == ["config is empty"]


def test_a_document_that_is_not_a_mapping_is_refused() -> None:
    (error,) = errors_of("- routes\n")
    assert error.startswith("config must be a mapping of GatewayConfig fields")
    assert error.endswith("got list")


def test_bytes_that_are_not_utf8_are_refused() -> None:
    assert errors_of(b"routes: []\n\xff") == [
        "config is not UTF-8 text (invalid byte at offset 11)"
    ]


def test_utf8_bytes_with_a_byte_order_mark_are_read() -> None:
    assert parse_config_text(("\ufeff" + MINIMAL_YAML).encode()).routes[0].id == "users-api"


def test_json_is_read_as_yaml_by_default() -> None:
    text = '{"routes": [{"id": "a", "paths": ["/a"], "upstream": "u"}]}'
    assert parse_config_text(text).routes[0].id == "a"


def test_strict_json_reports_the_syntax_error_position() -> None:
    assert errors_of('{"routes": [}', fmt="json") == [
        "invalid JSON at line 1, column 13: Expecting value"
    ]


def test_strict_json_refuses_duplicate_keys() -> None:
    assert errors_of('{"routes": [], "routes": []}', fmt="json") == [
        "invalid JSON: duplicate key 'routes'"
    ]


def test_an_alias_bomb_is_stopped_by_the_value_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("edgeway.common.config._structure.MAX_VALUES", 10_000)
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 6)]
    text = "policies: [{name: p, config: {" + ", ".join(lines) + "}}]"
    (error,) = errors_of(text)
    assert error.startswith("config is too large")


def test_a_policy_config_that_refers_to_itself_is_refused() -> None:
    (error,) = errors_of("policies: [{name: p, config: &c {self: *c}}]")
    assert error.endswith("nests deeper than 32 levels")


# -- structure ----------------------------------------------------------------------------


def test_an_unknown_field_is_named_with_a_suggestion() -> None:
    data = {"routes": [{"id": "a"}, {"id": "b"}, {"id": "c", "pathz": ["/c"]}]}
    assert dict_errors(data) == ['routes[2].pathz: unknown field (did you mean "paths"?)']


def test_an_unknown_field_without_a_close_name_lists_the_known_ones() -> None:
    (error,) = dict_errors({"upstreams": [{"xyzzy": 1}]})
    assert error.startswith("upstreams[0].xyzzy: unknown field (known fields: name, targets")


def test_lower_camel_case_names_are_accepted() -> None:
    config = config_from_dict({"routes": [{"id": "a", "pathMatch": "exact", "stripPath": True}]})
    assert config.routes[0].path_match == "exact"
    assert config.routes[0].strip_path is True


def test_a_field_given_in_both_spellings_is_refused() -> None:
    data = {"routes": [{"path_match": "exact", "pathMatch": "prefix"}]}
    assert dict_errors(data) == ["routes[0].pathMatch: given twice (also as 'path_match')"]


def test_an_integer_field_refuses_a_string() -> None:
    assert dict_errors({"routes": [{"priority": "5"}]}) == [
        "routes[0].priority: expected an integer, got string"
    ]


def test_a_list_field_refuses_a_mapping() -> None:
    assert dict_errors({"upstreams": [{"targets": {"address": "h:1"}}]}) == [
        "upstreams[0].targets: expected a list, got mapping"
    ]


@pytest.mark.parametrize(
    ("value", "kind"),
    [(8001, "integer"), (True, "boolean"), (1.5, "number"), ("2024-01-01", "date")],
)
def test_a_string_field_asks_to_quote_other_scalars(value: object, kind: str) -> None:
    if value == "2024-01-01":
        errors = errors_of("routes: [{id: 2024-01-01}]")
    else:
        errors = dict_errors({"routes": [{"id": value}]})
    assert errors == [f"routes[0].id: expected a string, got {kind}; quote the value"]


def test_a_boolean_field_refuses_a_string() -> None:
    assert dict_errors({"routes": [{"strip_path": "yes"}]}) == [
        "routes[0].strip_path: expected true or false, got string"
    ]


def test_an_int32_out_of_range_is_refused() -> None:
    assert dict_errors({"routes": [{"priority": 2**31}]}) == [
        "routes[0].priority: 2147483648 is out of range for a 32-bit integer "
        "(-2147483648..2147483647)"
    ]


def test_an_int64_may_be_written_as_a_string_of_digits() -> None:
    config = config_from_dict({"usage_plans": [{"name": "p", "quota": {"limit": "1000"}}]})
    assert config.usage_plans[0].quota.limit == 1000


def test_a_double_field_takes_integers_and_refuses_strings() -> None:
    assert config_from_dict({"usage_plans": [{"throttle": {"rate": 5}}]}).usage_plans[
        0
    ].throttle.rate == pytest.approx(5.0)
    assert dict_errors({"usage_plans": [{"throttle": {"rate": "fast"}}]}) == [
        "usage_plans[0].throttle.rate: expected a number, got string"
    ]


def test_map_keys_must_be_strings_and_values_of_the_right_type() -> None:
    assert dict_errors({"routes": [{"tags": {1: "x", "team": 5}}]}) == [
        "routes[0].tags.1: keys must be strings, got integer; quote the key",
        "routes[0].tags.team: expected a string, got integer; quote the value",
    ]


def test_a_policy_config_takes_any_json_object() -> None:
    config = config_from_dict(
        {"policies": [{"name": "p", "config": {"a": [1, {"b": None}], "c": "d"}}]}
    )
    assert config.policies[0].config["c"] == "d"


def test_a_policy_config_must_be_a_mapping() -> None:
    assert dict_errors({"policies": [{"name": "p", "config": [1]}]}) == [
        "policies[0].config: expected a mapping, got list"
    ]


def test_a_policy_config_refuses_dates_and_non_finite_numbers() -> None:
    errors = errors_of("policies: [{name: p, config: {when: 2024-01-01, n: .nan}}]")
    assert errors == [
        "policies[0].config.when: expected a JSON value, got date; quote the value",
        "policies[0].config.n: nan is not a JSON number",
    ]


def test_a_mock_json_body_takes_any_json_value() -> None:
    config = config_from_dict({"routes": [{"mock": {"json": [1, "two", None]}}]})
    assert config.routes[0].mock.json.list_value.values[1].string_value == "two"


def test_null_means_unset() -> None:
    config = config_from_dict({"routes": [{"id": "a", "upstream": None, "paths": None}]})
    assert config.routes[0].upstream == ""
    assert list(config.routes[0].paths) == []


def test_an_optional_field_keeps_an_explicit_zero() -> None:
    config = config_from_dict({"upstreams": [{"targets": [{"address": "h:1", "weight": 0}]}]})
    assert config.upstreams[0].targets[0].HasField("weight")


def test_a_null_list_item_is_refused() -> None:
    assert dict_errors({"routes": [{"paths": ["/a", None]}]}) == [
        "routes[0].paths[1]: expected a string, got null"
    ]


def test_a_config_with_five_problems_reports_five_errors_with_paths() -> None:
    data = {
        "routes": [
            {"id": "a", "pathz": ["/a"], "priority": "high"},
            {"id": 7, "methods": "GET"},
        ],
        "upstreams": [{"name": "u", "targets": {"address": "h:1"}}],
    }
    assert dict_errors(data) == [
        'routes[0].pathz: unknown field (did you mean "paths"?)',
        "routes[0].priority: expected an integer, got string",
        "routes[1].id: expected a string, got integer; quote the value",
        "routes[1].methods: expected a list, got string",
        "upstreams[0].targets: expected a list, got mapping",
    ]


def test_the_number_of_listed_errors_is_capped() -> None:
    data = {"routes": [{"priority": "x"} for _ in range(MAX_ERRORS + 5)]}
    errors = dict_errors(data)
    assert len(errors) == MAX_ERRORS + 1
    assert errors[-1] == "... and 5 more errors"


def test_config_invalid_carries_config_errors() -> None:
    with pytest.raises(ConfigInvalid) as caught:
        config_from_dict({"routes": 1})
    assert caught.value.errors == (ConfigError("routes", "expected a list, got integer"),)


# -- output -------------------------------------------------------------------------------

ROUND_TRIP_YAML = """\
routes:
  - id: a
    paths: ["/a/{id}"]
    upstream: u
    policies:
      - name: request-termination
        config: {status_code: 503, nested: {list: [1, 2.5, "x", true, null]}}
        enabled: false
    mock: {json: {n: 10}}
upstreams:
  - name: u
    targets: [{address: "h:1", weight: 0}]
consumers:
  - name: c
    credentials:
      - type: jwt
        issuer: i
        public_key: "-----BEGIN PUBLIC KEY-----\\nabc\\n-----END PUBLIC KEY-----\\n"
usage_plans:
  - {name: p, quota: {limit: 9007199254740993, period: day}, throttle: {rate: 2.5, burst: 0}}
variables: {host: "a.example.com"}
stage_variables: {prod: {values: {host: "b.example.com"}}}
"""


def test_yaml_output_reads_back_to_the_same_message() -> None:
    config = parse_config_text(ROUND_TRIP_YAML)
    assert parse_config_text(config_to_yaml(config)) == config


def test_dict_output_uses_proto_field_names_and_plain_numbers() -> None:
    data = config_to_dict(parse_config_text(ROUND_TRIP_YAML))
    assert data["usage_plans"][0]["quota"]["limit"] == 9007199254740993
    assert data["routes"][0]["policies"][0]["config"]["status_code"] == 503
    assert data["routes"][0]["policies"][0]["enabled"] is False
    assert data["upstreams"][0]["targets"][0] == {"address": "h:1", "weight": 0}
    assert data["routes"][0]["mock"] == {"json": {"n": 10}}


def test_multi_line_strings_are_written_as_literal_blocks() -> None:
    text = config_to_yaml(parse_config_text(ROUND_TRIP_YAML))
    assert "public_key: |" in text

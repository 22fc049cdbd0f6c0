"""Route rules: ids, action, match criteria, rewriting, mocks, proxy-only fields."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.configs import base, compiled, problems, route, with_routes


def route_problems(**fields: Any) -> list[str]:
    return problems(with_routes(route(**fields)))


# -- ids ----------------------------------------------------------------------------------


def test_a_route_without_an_id_is_refused() -> None:
    assert route_problems(id="", paths=["/x"]) == ["routes[1].id: a route id is required"]


@pytest.mark.parametrize("route_id", ["Users", "-users", "users api", "a" * 129])
def test_a_route_id_must_be_lower_case_words(route_id: str) -> None:
    (error,) = route_problems(id=route_id, paths=["/x"])
    assert error.startswith("routes[1].id: must be lower-case letters, digits")


@pytest.mark.parametrize("route_id", ["users", "users-v2", "a.b_c", "9", "a" * 128])
def test_a_well_formed_route_id_is_accepted(route_id: str) -> None:
    assert route_problems(id=route_id, paths=["/x"]) == []


def test_a_duplicate_route_id_names_the_first_route() -> None:
    assert route_problems(id="users-api", paths=["/other"]) == [
        "routes[1].id: duplicate route id 'users-api' (also routes[0])"
    ]


# -- action -------------------------------------------------------------------------------


def test_a_route_needs_an_upstream_or_a_mock() -> None:
    assert route_problems(upstream="") == [
        "routes[1]: needs an upstream to proxy to or a mock response"
    ]


def test_a_route_may_not_have_both_an_upstream_and_a_mock() -> None:
    assert route_problems(mock={"status": 200}) == [
        "routes[1]: set either upstream or mock, not both"
    ]


def test_a_dangling_upstream_reference_lists_the_known_upstreams() -> None:
    data = base(upstreams=[
        {"name": "users", "targets": [{"address": "a:1"}]},
        {"name": "orders", "targets": [{"address": "a:2"}]},
    ])  # fmt: skip
    data["routes"].extend([route("a"), route("b"), route("c", upstream="userz")])
    assert problems(data) == [
        "routes[3].upstream: unknown upstream 'userz' (known: orders, users; did you mean 'users'?)"
    ]


# -- match criteria -----------------------------------------------------------------------


def test_a_route_needs_at_least_one_path() -> None:
    assert route_problems(paths=[]) == [
        'routes[1].paths: at least one path is required (use "/" to match every path)'
    ]


def test_path_match_must_be_a_known_keyword() -> None:
    assert route_problems(path_match="prefixx") == [
        "routes[1].path_match: must be one of prefix, exact, regex "
        "(got 'prefixx'; did you mean 'prefix'?)"
    ]


def test_paths_must_start_with_a_slash() -> None:
    assert route_problems(paths=["users"]) == [
        "routes[1].paths[0]: must start with '/' (got 'users')"
    ]


def test_a_bad_path_template_is_reported_with_its_index() -> None:
    (error,) = route_problems(paths=["/ok", "/a/{id}/{id}"])
    assert error == "routes[1].paths[1]: parameter 'id' is used twice"


def test_a_regex_path_must_compile() -> None:
    (error,) = route_problems(paths=["/a/(["], path_match="regex")
    assert error.startswith("routes[1].paths[0]: is not a valid regular expression: ")


def test_a_path_listed_twice_is_refused() -> None:
    assert route_problems(paths=["/a", "/a"]) == ["routes[1].paths[1]: path '/a' is listed twice"]


def test_methods_must_be_standard_upper_case_methods() -> None:
    assert route_problems(methods=["GET", "get", "FETCH"]) == [
        "routes[1].methods[1]: must be one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, "
        "TRACE, CONNECT (got 'get')",
        "routes[1].methods[2]: must be one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, "
        "TRACE, CONNECT (got 'FETCH')",
    ]


def test_a_method_listed_twice_is_refused() -> None:
    assert route_problems(methods=["GET", "GET"]) == [
        "routes[1].methods[1]: method GET is listed twice"
    ]


def test_hosts_must_be_names_or_leading_wildcards() -> None:
    assert route_problems(hosts=["api.example.com", "*.example.com", "a.*.com", "*"]) == [
        "routes[1].hosts[2]: a wildcard may only be a leading '*.' (like *.example.com)",
        "routes[1].hosts[3]: '*' is not a host: leave hosts empty to match any host",
    ]


def test_a_host_listed_twice_is_refused() -> None:
    assert route_problems(hosts=["a.example.com", "A.example.com"]) == [
        "routes[1].hosts[1]: host 'A.example.com' is listed twice"
    ]


def test_hosts_are_matched_in_lower_case() -> None:
    data = with_routes(route(hosts=["API.example.com", "*.Example.org"]))
    hosts = compiled(data).routes[1].match.hosts
    assert hosts.matches("api.example.com")
    assert hosts.matches("eu.example.org")
    assert not hosts.matches("example.org")


def test_header_matches_need_a_name_and_exactly_one_condition() -> None:
    assert route_problems(headers=[{"name": "X-A"}, {"values": ["1"], "absent": True}]) == [
        "routes[1].headers[0]: set exactly one of values, regex or absent",
        "routes[1].headers[1].name: a name is required",
        "routes[1].headers[1]: set exactly one of values, regex or absent",
    ]


def test_a_header_match_regex_must_compile() -> None:
    (error,) = route_problems(headers=[{"name": "X-A", "regex": "("}])
    assert error.startswith("routes[1].headers[0].regex: is not a valid regular expression")


def test_an_invalid_header_name_is_refused() -> None:
    assert route_problems(headers=[{"name": "X A", "values": ["1"]}]) == [
        "routes[1].headers[0].name: 'X A' is not a valid header name"
    ]


def test_query_matches_follow_the_same_rules() -> None:
    assert route_problems(query=[{"name": "v"}]) == [
        "routes[1].query[0]: set exactly one of values, regex or absent"
    ]


def test_compiled_value_matches_decide_as_configured() -> None:
    data = with_routes(route(headers=[
        {"name": "X-Env", "values": ["a", "b"]}, {"name": "X-Id", "regex": "[0-9]+"},
        {"name": "X-Debug", "absent": True},
    ]))  # fmt: skip
    env, ident, debug = compiled(data).routes[1].match.headers
    assert env.name == "x-env"
    assert env.matches("a")
    assert not env.matches("c")
    assert ident.matches("42")
    assert not ident.matches("42a")
    assert debug.matches(None)
    assert not debug.matches("1")


# -- rewriting ----------------------------------------------------------------------------


def test_rewrite_path_parameters_must_exist_in_every_path() -> None:
    assert route_problems(paths=["/a/{id}", "/b"], rewrite_path="/v2/{id}") == [
        "routes[1].rewrite_path: parameter {id} is not in path '/b'"
    ]


def test_rewrite_path_may_use_named_groups_of_a_regex_path() -> None:
    data = with_routes(route(paths=["/u/(?P<id>[0-9]+)"], path_match="regex", rewrite_path="/{id}"))
    assert compiled(data).routes[1].rewrite is not None


def test_rewrite_path_renders_parameters() -> None:
    data = with_routes(route(paths=["/a/{id:int}"], rewrite_path="/v2/items/{id}.json"))
    rewrite = compiled(data).routes[1].rewrite
    assert rewrite is not None
    assert rewrite.render({"id": "7"}) == "/v2/items/7.json"


def test_strip_path_and_rewrite_path_exclude_each_other() -> None:
    assert route_problems(strip_path=True, rewrite_path="/x") == [
        "routes[1].rewrite_path: set either strip_path or rewrite_path, not both"
    ]


def test_rewrite_path_must_start_with_a_slash() -> None:
    assert route_problems(rewrite_path="x") == [
        "routes[1].rewrite_path: must start with '/' (got 'x')"
    ]


# -- mocks --------------------------------------------------------------------------------


def mock_problems(**mock: Any) -> list[str]:
    return route_problems(upstream="", mock=mock)


@pytest.mark.parametrize("status", [99, 600, -1])
def test_a_mock_status_must_be_between_100_and_599(status: int) -> None:
    assert mock_problems(status=status) == [
        "routes[1].mock.status: must be an HTTP status between 100 and 599"
    ]


def test_a_mock_has_either_a_body_or_json() -> None:
    assert mock_problems(body="x", json={"a": 1}) == [
        "routes[1].mock: set either body or json, not both"
    ]


def test_mock_headers_must_be_valid_and_single_line() -> None:
    assert mock_problems(headers={"Bad Name": "x", "X-Ok": "a\r\nSet-Cookie: x"}) == [
        "routes[1].mock.headers[\"Bad Name\"]: 'Bad Name' is not a valid header name",
        "routes[1].mock.headers.X-Ok: a header value must not contain line breaks or control "
        "characters",
    ]


def test_a_mock_json_keeps_an_explicit_content_type() -> None:
    data = with_routes(route(upstream="", mock={"json": [1], "headers": {"Content-Type": "x/y"}}))
    assert compiled(data).routes[1].mock is not None
    assert compiled(data).routes[1].mock.headers == (("content-type", "x/y"),)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("strip_path", True),
        ("rewrite_path", "/x"),
        ("preserve_host", True),
        ("timeouts", {"total_ms": 1000}),
        ("retries", {"attempts": 1}),
    ],
)
def test_proxy_settings_on_a_mock_route_are_refused(field: str, value: object) -> None:
    assert route_problems(upstream="", mock={"body": "x"}, **{field: value}) == [
        f"routes[1].{field}: has no effect on a mock route"
    ]


# -- effective settings -------------------------------------------------------------------


def test_route_timeouts_override_the_upstream_field_by_field() -> None:
    data = base(upstreams=[{"name": "users", "targets": [{"address": "a:1"}],
                            "timeouts": {"connect_ms": 100, "total_ms": 5000}}])  # fmt: skip
    data["routes"][0]["timeouts"] = {"total_ms": 2000}
    timeouts = compiled(data).routes[0].timeouts
    assert (timeouts.connect_ms, timeouts.first_byte_ms, timeouts.total_ms) == (100, 2000, 2000)


def test_route_retries_override_only_the_fields_set() -> None:
    data = base(upstreams=[{"name": "users", "targets": [{"address": "a:1"}],
                            "retries": {"attempts": 5, "on_connect_failure": False}}])  # fmt: skip
    data["routes"][0]["retries"] = {"attempts": 0}
    retries = compiled(data).routes[0].retries
    assert (retries.attempts, retries.budget_percent, retries.on_connect_failure) == (0, 20, False)


def test_an_empty_tag_name_is_refused() -> None:
    assert route_problems(tags={" ": "x"}) == ["routes[1].tags: a tag name must not be empty"]

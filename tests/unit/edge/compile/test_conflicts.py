"""Conflicting and shadowed routes."""

from __future__ import annotations

from typing import Any

from tests.unit.configs import base, problems, route

CONFLICT = (
    "routes[1]: conflicts with route 'users-api' (routes[0]): same host, method and path at "
    "the same priority"
)


def two(first: dict[str, Any], second: dict[str, Any]) -> list[str]:
    data = base()
    data["routes"] = [route("users-api", **first), route("other", **second)]
    return problems(data)


def test_identical_routes_at_the_same_priority_conflict() -> None:
    assert two({"paths": ["/users"]}, {"paths": ["/users"]}) == [CONFLICT]


def test_routes_sharing_one_host_method_and_path_conflict() -> None:
    first = {"paths": ["/a", "/users"], "methods": ["GET", "POST"], "hosts": ["x.com", "y.com"]}
    second = {"paths": ["/users"], "methods": ["POST"], "hosts": ["y.com"]}
    assert two(first, second) == [CONFLICT]


def test_parameter_names_do_not_make_paths_different() -> None:
    assert two({"paths": ["/users/{id}"]}, {"paths": ["/users/{uid}"]}) == [CONFLICT]


def test_routes_with_different_priorities_do_not_conflict() -> None:
    assert two({"paths": ["/a", "/b"]}, {"paths": ["/a"], "priority": 1}) == []


def test_a_specific_method_does_not_conflict_with_any_method() -> None:
    assert two({"paths": ["/users"]}, {"paths": ["/users"], "methods": ["GET"]}) == []


def test_a_specific_host_does_not_conflict_with_any_host() -> None:
    assert two({"paths": ["/users"]}, {"paths": ["/users"], "hosts": ["api.example.com"]}) == []


def test_different_header_conditions_do_not_conflict() -> None:
    header = {"name": "X-Version", "values": ["2"]}
    assert two({"paths": ["/users"]}, {"paths": ["/users"], "headers": [header]}) == []


def test_equal_header_conditions_written_differently_still_conflict() -> None:
    first = {"paths": ["/u"], "headers": [{"name": "X-V", "values": ["1", "2"]}]}
    second = {"paths": ["/u"], "headers": [{"name": "x-v", "values": ["2", "1"]}]}
    assert two(first, second) == [CONFLICT]


def test_a_prefix_and_an_exact_path_do_not_conflict() -> None:
    assert two({"paths": ["/users"]}, {"paths": ["/users"], "path_match": "exact"}) == []


def test_a_route_whose_every_match_has_a_higher_priority_owner_is_shadowed() -> None:
    first = {"paths": ["/users", "/people"], "priority": 10}
    assert two(first, {"paths": ["/users"]}) == [
        "routes[1]: never matches: route 'users-api' (routes[0]) has a higher priority and the "
        "same hosts, methods, paths and conditions"
    ]


def test_a_route_with_one_match_of_its_own_is_not_shadowed() -> None:
    assert two({"paths": ["/users"], "priority": 10}, {"paths": ["/users", "/people"]}) == []


def test_a_conflict_is_reported_once_per_pair() -> None:
    paths = {"paths": ["/a", "/b", "/c"]}
    assert two(paths, paths) == [CONFLICT]

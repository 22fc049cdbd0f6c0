"""Parsing of path templates, hosts, rewrite templates and addresses."""

from __future__ import annotations

import re

import pytest

from edgeway.edge.compile import PathSegment
from edgeway.edge.compile.paths import (
    conflict_key,
    parse_address,
    parse_host,
    parse_path,
    parse_rewrite,
)

UUID = "123e4567-e89b-12d3-a456-426614174000"


def test_a_prefix_path_matches_itself_and_below_on_a_segment_boundary() -> None:
    pattern = parse_path("/users", "prefix")
    assert pattern.match("/users") == {}
    assert pattern.match("/users/") == {}
    assert pattern.match("/users/7/orders") == {}
    assert pattern.match("/usersx") is None


def test_the_root_prefix_matches_every_path() -> None:
    pattern = parse_path("/", "prefix")
    assert pattern.match("/") == {}
    assert pattern.match("/anything/at/all") == {}


def test_a_prefix_with_a_trailing_slash_needs_it() -> None:
    pattern = parse_path("/users/", "prefix")
    assert pattern.match("/users/7") == {}
    assert pattern.match("/users") is None


def test_an_exact_path_matches_only_itself() -> None:
    pattern = parse_path("/users", "exact")
    assert pattern.match("/users") == {}
    assert pattern.match("/users/") is None


def test_template_parameters_are_captured_by_kind() -> None:
    pattern = parse_path("/users/{id:int}/docs/{doc:uuid}/{rest:path}", "exact")
    assert pattern.params == ("id", "doc", "rest")
    assert pattern.match(f"/users/7/docs/{UUID}/a/b.txt") == {
        "id": "7",
        "doc": UUID,
        "rest": "a/b.txt",
    }
    assert pattern.match(f"/users/x/docs/{UUID}/a") is None
    assert pattern.match("/users/7/docs/not-a-uuid/a") is None


def test_a_template_is_kept_as_segments_for_a_router() -> None:
    assert parse_path("/users/{id}/", "prefix").segments == (
        PathSegment(literal="users"),
        PathSegment(param="id", kind="str"),
        PathSegment(literal=""),
    )


def test_the_root_as_an_exact_path_matches_only_the_root() -> None:
    pattern = parse_path("/", "exact")
    assert pattern.match("/") == {}
    assert pattern.match("/a") is None


def test_a_path_parameter_needs_something_to_capture() -> None:
    pattern = parse_path("/files/{rest:path}", "prefix")
    assert pattern.match("/files/") is None
    assert pattern.match("/files/a/b/") == {"rest": "a/b/"}


def test_a_prefix_template_matches_below_its_parameters() -> None:
    pattern = parse_path("/users/{id:int}", "prefix")
    assert pattern.match("/users/7/orders") == {"id": "7"}
    assert pattern.match("/users/") is None
    assert pattern.match("users/7") is None


def test_an_int_parameter_takes_ascii_digits_only() -> None:
    pattern = parse_path("/n/{n:int}", "exact")
    assert pattern.match("/n/42") == {"n": "42"}
    assert pattern.match("/n/４２") is None
    assert pattern.match("/n/-1") is None


def test_template_paths_need_no_regex() -> None:
    assert parse_path("/users/{id}", "prefix").regex is None


def test_a_str_parameter_spans_one_segment() -> None:
    pattern = parse_path("/u/{name}", "exact")
    assert pattern.match("/u/ann") == {"name": "ann"}
    assert pattern.match("/u/ann/x") is None


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/a/{id}/{id}", "parameter 'id' is used twice"),
        ("/a/{id:float}", "parameter 'id' has kind 'float': must be one of str, int, uuid, path"),
        ("/a/{rest:path}/b", "parameter {rest:path} takes the rest of the path: it must be last"),
        ("/a//b", "must not contain an empty segment ('//')"),
        ("/a?b=1", "must not contain spaces, control characters, '?' or '#'"),
        ("/a b", "must not contain spaces, control characters, '?' or '#'"),
    ],
)
def test_a_bad_template_says_why(path: str, message: str) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(message) + "$"):
        parse_path(path, "prefix")


def test_a_parameter_must_fill_a_whole_segment() -> None:
    with pytest.raises(ValueError, match="a parameter fills a whole segment"):
        parse_path("/files/{name}.json", "prefix")


def test_a_regex_path_full_matches_and_names_groups_as_parameters() -> None:
    pattern = parse_path(r"/v(?P<version>[0-9]+)/.*", "regex")
    assert pattern.params == ("version",)
    assert pattern.match("/v2/users") == {"version": "2"}
    assert pattern.match("/x/v2/users") is None


def test_parameter_names_do_not_change_the_conflict_key() -> None:
    first = parse_path("/users/{id}", "prefix")
    second = parse_path("/users/{uid}", "prefix")
    assert conflict_key(first) == conflict_key(second) == "prefix:/users/{:str}"
    assert conflict_key(parse_path("/users/{id:int}", "prefix")) != conflict_key(first)


def test_hosts_parse_to_lower_case_names_or_suffixes() -> None:
    assert parse_host("API.Example.com") == ("api.example.com", False)
    assert parse_host("*.example.com") == (".example.com", True)
    assert parse_host("[::1]") == ("[::1]", False)


@pytest.mark.parametrize("host", ["exa mple.com", "-a.com", "a..com", "api.example.com:80", "*"])
def test_malformed_hosts_are_refused(host: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the messages are tested on routes
        parse_host(host)


def test_addresses_are_host_and_port() -> None:
    assert parse_address("users.internal:8080") == ("users.internal", 8080)
    assert parse_address("[::1]:9000") == ("::1", 9000)


@pytest.mark.parametrize("address", ["host", "host:0", "host:65536", "[zz]:80", "a b:80", ":80"])
def test_malformed_addresses_are_refused(address: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the messages are tested on upstreams
        parse_address(address)


def test_a_rewrite_template_splits_literals_and_parameters() -> None:
    assert parse_rewrite("/v2/{id}.json").parts == (("/v2/", None), ("", "id"), (".json", None))


@pytest.mark.parametrize("text", ["/a/{", "/a/}", "/a/{1x}"])
def test_a_malformed_rewrite_template_is_refused(text: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011
        parse_rewrite(text)

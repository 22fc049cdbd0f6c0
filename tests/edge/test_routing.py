"""The router: hosts, methods, path kinds, priority and tie-breaks, conditions, parameters and
normalization (agreement with the reference matcher: test_route_agreement.py)."""

from __future__ import annotations

import re

import pytest

from edgeway.edge.compile.model import ValueMatch
from edgeway.edge.routing import Router, normalize_host, normalize_path
from tests.edge.routes import UUID, Req, make_route, picked

# -- hosts ------------------------------------------------------------------------------------


def test_an_exact_host_beats_a_wildcard_which_beats_any_host() -> None:
    router = Router([
        make_route(0, ["/"], route_id="any"),
        make_route(1, ["/"], hosts=["*.example.com"], route_id="wild"),
        make_route(2, ["/"], hosts=["*.api.example.com"], route_id="longer-wild"),
        make_route(3, ["/"], hosts=["api.example.com"], route_id="exact"),
    ])  # fmt: skip
    assert picked(router, "/x", host="api.example.com") == "exact"
    assert picked(router, "/x", host="v1.api.example.com") == "longer-wild"
    assert picked(router, "/x", host="www.example.com") == "wild"
    assert picked(router, "/x", host="a.b.example.com") == "wild"
    assert picked(router, "/x", host="example.com") == "any"  # a wildcard needs a label
    assert picked(router, "/x", host="other.org") == "any"


def test_a_host_route_does_not_match_other_hosts() -> None:
    router = Router([make_route(0, ["/"], hosts=["api.example.com", "*.internal"])])
    assert picked(router, "/", host="api.example.com") == "r0"
    assert picked(router, "/", host="db.internal") == "r0"
    assert picked(router, "/", host="api.example.org") is None
    assert picked(router, "/", host="") is None


def test_the_host_header_is_normalized() -> None:
    assert normalize_host("API.Example.com:8080") == "api.example.com"
    assert normalize_host("api.example.com.") == "api.example.com"
    assert normalize_host("[::1]:9080") == "[::1]"
    assert normalize_host("localhost") == "localhost"


# -- methods ----------------------------------------------------------------------------------


def test_methods_filter_and_a_method_list_beats_any_method() -> None:
    router = Router([
        make_route(0, ["/items"], route_id="any-method"),
        make_route(1, ["/items"], methods=["POST", "PUT"], route_id="writes"),
    ])  # fmt: skip
    assert picked(router, "/items", method="POST") == "writes"
    assert picked(router, "/items", method="PUT") == "writes"
    assert picked(router, "/items", method="GET") == "any-method"


def test_a_route_limited_to_other_methods_does_not_match() -> None:
    router = Router([make_route(0, ["/items"], methods=["GET"])])
    assert picked(router, "/items", method="DELETE") is None


# -- path kinds -------------------------------------------------------------------------------


def test_prefix_paths_match_on_a_segment_boundary() -> None:
    router = Router([make_route(0, ["/users"])])
    assert picked(router, "/users") == "r0"
    assert picked(router, "/users/") == "r0"
    assert picked(router, "/users/7/orders") == "r0"
    assert picked(router, "/usersx") is None
    assert picked(router, "/") is None


def test_a_prefix_with_a_trailing_slash_matches_only_below_it() -> None:
    router = Router([make_route(0, ["/users/"])])
    assert picked(router, "/users") is None
    assert picked(router, "/users/") == "r0"
    assert picked(router, "/users/7") == "r0"


def test_exact_paths_match_only_themselves() -> None:
    router = Router([make_route(0, ["/health"], kind="exact")])
    assert picked(router, "/health") == "r0"
    assert picked(router, "/health/") is None
    assert picked(router, "/health/x") is None


def test_template_parameters_are_extracted_by_kind() -> None:
    router = Router([
        make_route(0, ["/users/{id:int}"], kind="exact", route_id="by-int"),
        make_route(1, ["/users/{id:uuid}"], kind="exact", route_id="by-uuid"),
        make_route(2, ["/users/{name}"], kind="exact", route_id="by-name"),
        make_route(3, ["/files/{rest:path}"], route_id="files"),
    ])  # fmt: skip
    hit = router.match("h", "GET", "/users/42", Req())
    assert hit is not None
    assert (hit.route.id, hit.params) == ("by-int", {"id": "42"})
    hit = router.match("h", "GET", f"/users/{UUID}", Req())
    assert hit is not None
    assert (hit.route.id, hit.params) == ("by-uuid", {"id": UUID})
    hit = router.match("h", "GET", "/users/bob", Req())
    assert hit is not None
    assert (hit.route.id, hit.params) == ("by-name", {"name": "bob"})
    hit = router.match("h", "GET", "/files/a/b/c.txt", Req())
    assert hit is not None
    assert (hit.route.id, hit.params) == ("files", {"rest": "a/b/c.txt"})
    assert picked(router, "/files/") is None  # a path parameter is never empty


def test_regex_paths_are_a_fallback_with_named_groups_as_parameters() -> None:
    router = Router([
        make_route(0, [r"/v(?P<major>[0-9]+)/.*"], kind="regex", route_id="versioned"),
        make_route(1, ["/v1/users"], route_id="users"),
    ])  # fmt: skip
    hit = router.match("h", "GET", "/v2/things", Req())
    assert hit is not None
    assert (hit.route.id, hit.params) == ("versioned", {"major": "2"})
    assert picked(router, "/v1/users/7") == "users"  # a template path wins at equal priority
    assert picked(router, "/w2/x") is None


def test_the_remainder_after_the_matched_path_is_given_to_routes_that_rewrite() -> None:
    router = Router([
        make_route(0, ["/api/users/{id}"], strip=True),
        make_route(1, ["/static/"], strip=True),
        make_route(2, ["/other"]),
    ])  # fmt: skip
    hit = router.match("h", "GET", "/api/users/7/orders/1", Req())
    assert hit is not None
    assert (hit.params, hit.remainder) == ({"id": "7"}, "/orders/1")
    hit = router.match("h", "GET", "/static/css/a.css", Req())
    assert hit is not None
    assert hit.remainder == "/css/a.css"
    hit = router.match("h", "GET", "/static/", Req())
    assert hit is not None
    assert hit.remainder == "/"
    hit = router.match("h", "GET", "/other/x", Req())
    assert hit is not None
    assert hit.remainder == ""  # not computed for routes that do not rewrite


# -- priority and tie-breaks ------------------------------------------------------------------


def test_priority_wins_over_every_other_rule() -> None:
    router = Router([
        make_route(0, ["/users/{id}"], hosts=["api.example.com"], route_id="specific"),
        make_route(1, ["/"], priority=5, route_id="catch-all-high"),
    ])  # fmt: skip
    assert picked(router, "/users/1", host="api.example.com") == "catch-all-high"


def test_a_more_specific_path_wins() -> None:
    router = Router([
        make_route(0, ["/"], route_id="root"),
        make_route(1, ["/users"], route_id="users"),
        make_route(2, ["/users/{id}"], route_id="user"),
        make_route(3, ["/users/me"], route_id="me"),
        make_route(4, ["/users/{id:int}"], route_id="user-int"),
        make_route(5, ["/users/me"], kind="exact", route_id="me-exact"),
    ])  # fmt: skip
    assert picked(router, "/elsewhere") == "root"
    assert picked(router, "/users") == "users"
    assert picked(router, "/users/bob") == "user"  # more segments
    assert picked(router, "/users/7") == "user-int"  # typed beats str
    assert picked(router, "/users/me/x") == "me"  # literal beats parameter
    assert picked(router, "/users/me") == "me-exact"  # exact beats prefix


def test_a_trailing_slash_prefix_beats_the_same_prefix_without_it() -> None:
    router = Router([
        make_route(0, ["/docs"], route_id="docs"),
        make_route(1, ["/docs/"], route_id="docs-slash"),
    ])  # fmt: skip
    assert picked(router, "/docs") == "docs"
    assert picked(router, "/docs/intro") == "docs-slash"


def test_conditions_then_methods_then_config_order_break_ties() -> None:
    beta = ValueMatch("x-beta", frozenset({"1"}))
    router = Router([
        make_route(0, ["/a"], route_id="first"),
        make_route(1, ["/a"], route_id="second"),
        make_route(2, ["/a"], methods=["GET"], route_id="with-method"),
        make_route(3, ["/a"], headers=[beta], route_id="with-header"),
    ])  # fmt: skip
    assert picked(router, "/a", request=Req({"x-beta": "1"})) == "with-header"
    assert picked(router, "/a", method="GET") == "with-method"
    assert picked(router, "/a", method="POST") == "first"


def test_header_and_query_conditions() -> None:
    router = Router([
        make_route(0, ["/"], route_id="plain"),
        make_route(1, ["/"], headers=[ValueMatch("x-version", regex=re.compile(r"2\.[0-9]+"))],
                   route_id="v2"),
        make_route(2, ["/"], query=[ValueMatch("debug", frozenset({"1", "true"}))],
                   route_id="debug"),
        make_route(3, ["/"], headers=[ValueMatch("authorization", absent=True)],
                   query=[ValueMatch("public", frozenset({"yes"}))], route_id="anonymous"),
    ])  # fmt: skip
    assert picked(router, "/", request=Req({"x-version": "2.1"})) == "v2"
    assert picked(router, "/", request=Req({"x-version": "3.0"})) == "plain"
    assert picked(router, "/", request=Req(query={"debug": "true"})) == "debug"
    assert picked(router, "/", request=Req(query={"public": "yes"})) == "anonymous"
    assert picked(router, "/", request=Req({"authorization": "x"}, {"public": "yes"})) == "plain"


# -- normalization ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("/admin/../public", "/public"),
        ("/a/%2e%2e/b", "/b"),
        ("/a/%2E%2e/%2e/b", "/b"),
        ("/a/.%2e/b", "/b"),
        ("//a///b//", "/a/b/"),
        ("/a/./b/.", "/a/b/"),
        ("/../../etc", "/etc"),
        ("/a/b/..", "/a/"),
        ("/%7Euser/%41%62", "/~user/Ab"),
        ("/a%2fb", "/a%2Fb"),  # an encoded slash never becomes a separator
        ("/a%2F..%2Fadmin", "/a%2F..%2Fadmin"),
        ("/caf%c3%a9", "/caf%C3%A9"),
        ("/plain/path", "/plain/path"),
        ("/public/..;/admin", "/admin"),  # a dot segment with a path parameter
        ("/a/.;x=1/b", "/a/b"),
        ("/a/b..;/c", "/a/b..;/c"),
        ("/a/%2e%2e;x/b", "/b"),
        ("*", "*"),
    ],
)
def test_paths_are_normalized(raw: str, normal: str) -> None:
    assert normalize_path(raw) == normal


def test_a_dot_dot_path_cannot_slip_past_a_more_specific_route() -> None:
    router = Router([
        make_route(0, ["/public"], route_id="public"),
        make_route(1, ["/admin"], route_id="admin"),
    ])  # fmt: skip
    for raw in ["/admin/../public", "/public/../admin", "/%2e%2e/admin", "//admin",
                "/public/..;/admin"]:
        expected = "public" if raw.endswith("public") else "admin"
        assert picked(router, normalize_path(raw)) == expected, raw

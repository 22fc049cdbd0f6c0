"""Request limits: global defaults and bounds, a route's own body limit, global-only fields."""

from __future__ import annotations

from edgeway.edge.compile.model import DEFAULT_MAX_BODY_BYTES, RequestLimits
from tests.unit.configs import base, compiled, problems, route, with_routes


def test_defaults_apply_without_limits() -> None:
    config = compiled(base())
    assert config.limits == RequestLimits()
    assert config.limits.max_body_bytes == DEFAULT_MAX_BODY_BYTES == 10 * 1024 * 1024
    assert (config.limits.max_header_bytes, config.limits.max_headers,
            config.limits.max_url_bytes) == (32768, 100, 8192)
    assert config.routes[0].max_body_bytes == DEFAULT_MAX_BODY_BYTES


def test_the_global_body_limit_is_every_routes_default_and_a_route_may_override_it() -> None:
    data = with_routes(route("small", paths=["/s"], limits={"max_body_bytes": 100}),
                       route("other", paths=["/o"]))
    data["limits"] = {"max_body_bytes": 5000, "max_headers": 20}
    config = compiled(data)
    assert [r.max_body_bytes for r in config.routes] == [5000, 100, 5000]  # base route first
    assert config.limits.max_headers == 20


def test_limits_are_bounded() -> None:
    data = base()
    data["limits"] = {"max_body_bytes": -1, "max_header_bytes": 10, "max_headers": 20000,
                      "max_url_bytes": 10}
    assert problems(data) == [
        "limits.max_header_bytes: must be between 1024 and 1048576 (0 or unset: default)",
        "limits.max_url_bytes: must be between 256 and 1048576 (0 or unset: default)",
        "limits.max_body_bytes: must be between 1 and 1099511627776 (0 or unset: default)",
        "limits.max_headers: must be between 1 and 10000 (0 or unset: default)",
    ]


def test_the_url_limit_stays_below_the_head_limit() -> None:
    data = base()
    data["limits"] = {"max_header_bytes": 4096, "max_url_bytes": 4096}
    assert problems(data) == ["limits.max_url_bytes: must be less than max_header_bytes (4096)"]
    data["limits"] = {"max_header_bytes": 4096}  # a default URL limit is lowered to fit
    assert compiled(data).limits.max_url_bytes == 4095


def test_head_limits_cannot_be_set_on_a_route() -> None:
    data = with_routes(route(limits={"max_headers": 10, "max_url_bytes": 300}))
    assert problems(data) == [
        "routes[1].limits.max_headers: applies before routing: set it in the top-level "
        "limits, not on a route",
        "routes[1].limits.max_url_bytes: applies before routing: set it in the top-level "
        "limits, not on a route",
    ]

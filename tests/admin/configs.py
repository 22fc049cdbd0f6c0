"""Config texts used by the admin API and CLI tests."""

from __future__ import annotations

MINIMAL = """\
upstreams:
  - name: users
    targets: [{address: "127.0.0.1:8001", weight: 1}]
routes:
  - id: users-api
    paths: ["/users"]
    upstream: users
"""


def with_route(route_id: str, path: str) -> str:
    """MINIMAL plus one more route, so each call gives a distinct config."""
    return MINIMAL + f"""\
  - id: {route_id}
    paths: ["{path}"]
    upstream: users
"""


BROKEN_YAML = "routes:\n  - id: a\n   paths: [/x]\n"

# Five different problems: each must be reported, with its path.
FIVE_PROBLEMS = """\
upstreams:
  - name: users
    targets: [{address: "127.0.0.1:notaport"}]
routes:
  - id: a
    paths: ["/a"]
    upstream: userz
  - id: a
    paths: ["/b"]
    upstream: users
  - id: c
    paths: ["/c"]
    upstream: users
    policies:
      - name: request-termination
        config: {status_code: 42}
  - id: d
    pathz: ["/d"]
"""

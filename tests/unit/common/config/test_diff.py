"""What changed between two configs, per collection, as JSON-ready data."""

from __future__ import annotations

import json

from edgeway.common.config.diff import diff_configs
from edgeway.common.config.loading import parse_config_text

OLD = """\
routes:
  - {id: users, paths: [/users], upstream: users}
  - {id: legacy, paths: [/old], upstream: users}
upstreams:
  - {name: users, targets: [{address: "h:1"}]}
consumers:
  - {name: alice}
policies:
  - {name: cors}
  - {name: cors, config: {origins: [a]}}
variables: {host: a, port: "1"}
stage_variables: {prod: {values: {host: b}}}
"""

NEW = """\
routes:
  - {id: users, paths: [/users, /people], upstream: orders, priority: 2}
  - {id: orders, paths: [/orders], upstream: orders}
upstreams:
  - {name: users, targets: [{address: "h:1"}]}
  - {name: orders, targets: [{address: "h:2"}]}
consumers:
  - {name: alice}
policies:
  - {name: cors}
  - {name: cors, config: {origins: [b]}}
variables: {host: a, port: "2"}
stage_variables: {prod: {values: {host: c, extra: d}}, dev: {}}
"""


def test_equal_configs_have_no_changes() -> None:
    config = parse_config_text(OLD)
    assert diff_configs(config, config) == {}


def test_every_changed_collection_lists_added_removed_and_changed_names() -> None:
    changes = diff_configs(parse_config_text(OLD), parse_config_text(NEW))
    assert changes == {
        "routes": {
            "added": ["orders"],
            "removed": ["legacy"],
            "changed": ["users"],
            "details": {"users": ["paths", "priority", "upstream"]},
        },
        "upstreams": {"added": ["orders"], "removed": [], "changed": [], "details": {}},
        "policies": {
            "added": [],
            "removed": [],
            "changed": ["cors#2"],
            "details": {"cors#2": ["config"]},
        },
        "variables": {"added": [], "removed": [], "changed": ["port"], "details": {}},
        "stage_variables": {
            "added": ["dev"],
            "removed": [],
            "changed": ["prod"],
            "details": {"prod": ["extra", "host"]},
        },
    }


def test_the_diff_is_json_serializable() -> None:
    changes = diff_configs(parse_config_text(OLD), parse_config_text(NEW))
    assert json.loads(json.dumps(changes)) == changes


def test_repeated_names_are_numbered_in_order() -> None:
    old = parse_config_text("routes: [{id: a}, {id: a, priority: 1}]")
    new = parse_config_text("routes: [{id: a}, {id: a, priority: 2}]")
    assert diff_configs(old, new)["routes"]["changed"] == ["a#2"]

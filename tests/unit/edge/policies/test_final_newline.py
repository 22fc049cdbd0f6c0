"""A schema pattern ending in ``$`` also matches before a final newline (Python's ``re``, which
the validator uses): every name and URL a policy config holds must be refused with one."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.edge.policies.helpers import config_problems

FIELD = "routes[0].policies[0].config."
CASES = [
    ("request-transform", lambda v: {"headers": {"remove": [v]}}, "x-a",
     "headers.remove[0]: must be a header name"),
    ("request-transform", lambda v: {"query": {"remove": [v]}}, "q",
     "query.remove[0]: must be a query parameter name"),
    ("request-transform", lambda v: {"body": {"remove": [v]}}, "a.b",
     "body.remove[0]: must be a JSON body field name"),
    ("cors", lambda v: {"origins": [v]}, "https://app.example.com",
     "origins[0]: must be *, or scheme://host[:port] with an optional *. subdomain wildcard"),
    ("redirect", lambda v: {"location": v}, "https://new.example.com/",
     "location: must be a URL or path without spaces or control characters"),
    ("request-validation", lambda v: {"query": {v: {"type": "integer"}}}, "n",
     "query: must be a name of letters, digits, - and _"),
    ("request-validation", lambda v: {"headers": {v: {"type": "string"}}}, "x-a",
     "headers: must be a name of letters, digits, - and _"),
    ("key-auth", lambda v: {"key_names": [v]}, "apikey",
     "key_names[0]: must be an HTTP header name (letters, digits, - and _)"),
    ("request-termination", lambda v: {"body": "down", "content_type": v}, "text/plain",
     "content_type: must be a media type like text/html; charset=utf-8"),
]  # fmt: skip


@pytest.mark.parametrize(("policy", "config", "value", "problem"), CASES)
def test_a_value_with_a_final_newline_is_refused(policy: str, config: Any, value: str,
                                                  problem: str) -> None:  # fmt: skip
    assert config_problems(policy, config(value)) == []
    assert config_problems(policy, config(value + "\n")) == [FIELD + problem]

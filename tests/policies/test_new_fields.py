"""The config fields issue 5's gaps added, as the apply step checks them: each valid value
accepted, each invalid one refused with the path of the field and the rule."""

from __future__ import annotations

from typing import Any

import pytest

from edgeway.edge.policies._auth import UNKNOWN_ANONYMOUS, anonymous_names_a_consumer
from tests.unit.edge.policies.helpers import config_problems, spec

AUTH_POLICIES = ("key-auth", "basic-auth", "jwt")
FIELD = "routes[0].policies[0].config.anonymous"
NOT_A_NAME = f"{FIELD}: must be a consumer name (printable, without surrounding spaces)"


@pytest.mark.parametrize("policy", AUTH_POLICIES)
@pytest.mark.parametrize("name", ["guest", "anonymous users", "é", "x" * 256])
def test_anonymous_accepts_a_consumer_name(policy: str, name: str) -> None:
    assert config_problems(policy, {"anonymous": name}) == []


@pytest.mark.parametrize("policy", AUTH_POLICIES)
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", [f"{FIELD}: must not be empty", NOT_A_NAME]),
        (" guest", [NOT_A_NAME]),
        ("guest ", [NOT_A_NAME]),
        ("gu\test", [NOT_A_NAME]),
        ("guest\n", [NOT_A_NAME]),
        ("x" * 257, [f"{FIELD}: must be at most 256 characters long"]),
        (7, [f"{FIELD}: expected a string, got integer"]),
        (None, [f"{FIELD}: expected a string, got null"]),
        (["guest"], [f"{FIELD}: expected a string, got list"]),
    ],
)  # fmt: skip
def test_anonymous_refuses_what_is_no_consumer_name(policy: str, value: Any,
                                                    expected: list[str]) -> None:  # fmt: skip
    assert config_problems(policy, {"anonymous": value}) == expected


@pytest.mark.parametrize("policy", AUTH_POLICIES)
def test_anonymous_is_described_bounded_and_off_by_default(policy: str) -> None:
    field = spec(policy).schema["properties"]["anonymous"]
    assert field["description"]
    assert (field["type"], field["minLength"], field["maxLength"]) == ("string", 1, 256)
    assert "default" not in field
    assert "anonymous" not in spec(policy).with_defaults({})


def test_an_anonymous_name_must_be_a_consumer_of_the_config() -> None:
    consumers = {"guest": object()}
    assert list(anonymous_names_a_consumer({"anonymous": "gest"}, consumers)) == [
        ("anonymous", UNKNOWN_ANONYMOUS)]  # fmt: skip
    assert list(anonymous_names_a_consumer({"anonymous": "guest"}, consumers)) == []
    assert list(anonymous_names_a_consumer({}, consumers)) == []


def test_a_realm_with_a_trailing_newline_is_refused() -> None:
    """``$`` in a schema pattern also matches before a final newline (Python's ``re``)."""
    assert config_problems("basic-auth", {"realm": "edgeway\n"}) == [
        "routes[0].policies[0].config.realm: must be printable text without quotes or"
        " backslashes"]  # fmt: skip

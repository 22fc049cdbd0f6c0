"""The config fields issue 5's gaps added, as the apply step checks them: each valid value
accepted, each invalid one refused with the path of the field and the rule."""

from __future__ import annotations

from typing import Any

import pytest

from edgeway.edge.policies._auth import UNKNOWN_ANONYMOUS, anonymous_names_a_consumer
from edgeway.edge.policies.base import ConfigNames
from edgeway.edge.policies.cache.schema import POLL_NOT_BELOW_LOCK_TIMEOUT
from tests.unit.edge.policies.helpers import config_problems, spec

AUTH_POLICIES = ("key-auth", "basic-auth", "jwt")
FIELD = "routes[0].policies[0].config.anonymous"
NOT_A_NAME = f"{FIELD}: must be a consumer name (printable, without surrounding spaces)"


@pytest.mark.parametrize("policy", AUTH_POLICIES)
@pytest.mark.parametrize("name", ["guest", "anonymous users", "é", "x" * 256])
def test_anonymous_accepts_a_consumer_name(policy: str, name: str) -> None:
    consumers = [{"name": name}]
    assert config_problems(policy, {"anonymous": name}, consumers=consumers) == []


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


@pytest.mark.parametrize("policy", AUTH_POLICIES)
def test_an_anonymous_name_must_be_a_consumer_of_the_config(policy: str) -> None:
    """Refused at apply time with the field's path, not found out at the first request."""
    consumers = [{"name": "guest"}]
    assert config_problems(policy, {"anonymous": "gest"}, consumers=consumers) == [
        f"{FIELD}: {UNKNOWN_ANONYMOUS}"]  # fmt: skip
    assert config_problems(policy, {"anonymous": "guest"}) == [f"{FIELD}: {UNKNOWN_ANONYMOUS}"]
    assert config_problems(policy, {"anonymous": "guest"}, consumers=consumers) == []
    assert config_problems(policy, {}, consumers=consumers) == []


def test_the_rule_alone_reads_only_the_config_names() -> None:
    names = ConfigNames(consumers=frozenset({"guest"}))
    assert list(anonymous_names_a_consumer({"anonymous": "gest"}, names)) == [
        ("anonymous", UNKNOWN_ANONYMOUS)]  # fmt: skip
    assert list(anonymous_names_a_consumer({"anonymous": "guest"}, names)) == []
    assert list(anonymous_names_a_consumer({}, ConfigNames())) == []


def test_a_realm_with_a_trailing_newline_is_refused() -> None:
    """``$`` in a schema pattern also matches before a final newline (Python's ``re``)."""
    assert config_problems("basic-auth", {"realm": "edgeway\n"}) == [
        "routes[0].policies[0].config.realm: must be printable text without quotes or"
        " backslashes"]  # fmt: skip


# -- cache: lock_poll_ms --------------------------------------------------------------------------

POLL = "routes[0].policies[0].config.lock_poll_ms"


@pytest.mark.parametrize("value", [5, 50, 1000])
def test_lock_poll_ms_accepts_5_to_1000_milliseconds(value: int) -> None:
    assert config_problems("cache", {"backend": "redis", "lock_poll_ms": value}) == []


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"lock_poll_ms": 4}, f"{POLL}: must be at least 5"),
        ({"lock_poll_ms": 0}, f"{POLL}: must be at least 5"),
        ({"lock_poll_ms": 1001}, f"{POLL}: must be at most 1000"),
        ({"lock_poll_ms": 7.5}, f"{POLL}: expected an integer, got number"),
        ({"lock_poll_ms": "50"}, f"{POLL}: expected an integer, got string"),
        ({"lock_poll_ms": True}, f"{POLL}: expected an integer, got boolean"),
        ({"lock_poll_ms": None}, f"{POLL}: expected an integer, got null"),
        ({"lock_poll_ms": 200, "lock_timeout_ms": 200}, f"{POLL}: {POLL_NOT_BELOW_LOCK_TIMEOUT}"),
    ],
)  # fmt: skip
def test_lock_poll_ms_refuses_what_is_out_of_bounds(config: dict[str, Any], expected: str) -> None:
    assert config_problems("cache", {"backend": "redis", **config}) == [expected]


def test_lock_poll_ms_is_described_and_defaulted_and_lock_timeout_alone_stays_valid() -> None:
    field = spec("cache").schema["properties"]["lock_poll_ms"]
    assert field["description"]
    assert (field["type"], field["minimum"], field["maximum"], field["default"]) == (
        "integer", 5, 1000, 50)  # fmt: skip
    assert config_problems("cache", {"backend": "redis", "lock_timeout_ms": 1}) == []

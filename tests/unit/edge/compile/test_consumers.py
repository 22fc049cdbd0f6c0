"""Consumer, credential and usage plan rules."""

from __future__ import annotations

from typing import Any

import pytest

from edgeway.common.config.secrets import hash_api_key, hash_password
from tests.unit.configs import base, compiled, problems

PEM = "-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n"
PASSWORD_HASH = hash_password("pw", salt=b"salt")


def consumers_problems(*consumers: dict[str, Any], **extra: Any) -> list[str]:
    return problems(base(consumers=list(consumers), **extra))


def credential_problems(**credential: Any) -> list[str]:
    return consumers_problems({"name": "c", "credentials": [credential]})


def test_a_consumer_name_is_required() -> None:
    assert consumers_problems({"name": ""}) == ["consumers[0].name: a consumer name is required"]


def test_consumer_names_are_unique() -> None:
    assert consumers_problems({"name": "a"}, {"name": "a"}) == [
        "consumers[1].name: duplicate consumer name 'a' (also consumers[0])"
    ]


def test_a_consumer_name_may_be_an_email_address() -> None:
    assert consumers_problems({"name": "alice@example.com"}) == []


def test_a_consumer_name_may_not_have_surrounding_spaces() -> None:
    (error,) = consumers_problems({"name": " alice"})
    assert error.startswith("consumers[0].name: must be printable, without surrounding spaces")


def test_the_credential_type_must_be_a_known_keyword() -> None:
    assert credential_problems(type="oauth2") == [
        "consumers[0].credentials[0].type: must be one of key-auth, basic-auth, jwt, hmac "
        "(got 'oauth2')"
    ]


@pytest.mark.parametrize(
    "credential",
    [
        {"type": "key-auth", "key": "k"},
        {"type": "key-auth", "key_hash": hash_api_key("k"), "id": "k1"},
        {"type": "basic-auth", "username": "u", "password": "pw"},
        {"type": "basic-auth", "username": "u", "password_hash": PASSWORD_HASH},
        {"type": "jwt", "issuer": "i", "secret": "s"},
        {"type": "jwt", "issuer": "i", "public_key": PEM, "algorithm": "RS256"},
        {"type": "hmac", "username": "key-id", "secret": "s"},
    ],
)
def test_complete_credentials_of_every_type_are_accepted(credential: dict[str, str]) -> None:
    assert credential_problems(**credential) == []


C = "consumers[0].credentials[0]"
HUGE_HASH = "pbkdf2-sha256$99999999$AA==$AA=="


@pytest.mark.parametrize(
    ("credential", "errors"),
    [
        ({"type": "key-auth"}, [f"{C}: needs key or key_hash"]),
        ({"type": "key-auth", "key": "k", "key_hash": hash_api_key("k")},
         [f"{C}: set either key or key_hash, not both"]),
        ({"type": "key-auth", "key_hash": "md5:abc"},
         [f'{C}.key_hash: must be "sha256:" and 64 lower-case hex digits']),
        ({"type": "basic-auth", "password": "pw"}, [f"{C}.username: is required for basic-auth"]),
        ({"type": "basic-auth", "username": "u", "password_hash": "plain"},
         [f'{C}.password_hash: must look like "pbkdf2-sha256$<iterations>$<salt>$<hash>" '
          "(base64)"]),
        ({"type": "basic-auth", "username": "u", "password_hash": HUGE_HASH},
         [f"{C}.password_hash: asks for more than 10000000 iterations"]),
        ({"type": "jwt", "secret": "s"}, [f"{C}.issuer: is required for jwt"]),
        ({"type": "jwt", "issuer": "i"}, [f"{C}: needs secret or public_key"]),
        ({"type": "jwt", "issuer": "i", "public_key": PEM},
         [f"{C}.algorithm: is required with a public_key (RS256, ES256, ...)"]),
        ({"type": "jwt", "issuer": "i", "secret": "s", "algorithm": "RS256"},
         [f"{C}.algorithm: RS256 verifies with a public_key, not a secret"]),
        ({"type": "jwt", "issuer": "i", "public_key": "abc", "algorithm": "ES256"},
         [f"{C}.public_key: must be a PEM key (-----BEGIN PUBLIC KEY-----)"]),
        ({"type": "hmac"}, [f"{C}.username: is required for hmac (the key id)",
                            f"{C}.secret: is required for hmac"]),
        ({"type": "key-auth", "key": "k", "password": "p"},
         [f"{C}.password: is not used by key-auth credentials"]),
    ],
)  # fmt: skip
def test_credential_fields_are_checked_per_type(
    credential: dict[str, str], errors: list[str]
) -> None:
    assert credential_problems(**credential) == errors


def test_the_same_api_key_on_two_consumers_is_refused() -> None:
    alice = {"name": "alice", "credentials": [{"type": "key-auth", "key": "shared"}]}
    bob = {"name": "bob", "credentials": [{"type": "key-auth", "key_hash": hash_api_key("shared")}]}
    assert consumers_problems(alice, bob) == [
        "consumers[1].credentials[0]: this API key is already used by consumer 'alice' "
        "(consumers[0].credentials[0])"
    ]


def test_the_same_basic_auth_user_name_on_two_consumers_is_refused() -> None:
    def user(name: str) -> dict[str, Any]:
        return {
            "name": name,
            "credentials": [{"type": "basic-auth", "username": "u", "password": "p"}],
        }

    assert consumers_problems(user("a"), user("b")) == [
        "consumers[1].credentials[0].username: this user name is already used by consumer 'a' "
        "(consumers[0].credentials[0].username)"
    ]


@pytest.mark.parametrize(
    ("credential", "field", "what"),
    [
        ({"type": "jwt", "issuer": "i", "secret": "s"}, "issuer", "this issuer"),
        ({"type": "hmac", "username": "kid", "secret": "s"}, "username", "this key id"),
    ],
)
def test_the_same_jwt_issuer_or_hmac_key_id_on_two_consumers_is_refused(
    credential: dict[str, str], field: str, what: str
) -> None:
    first = {"name": "a", "credentials": [credential]}
    second = {"name": "b", "credentials": [credential]}
    assert consumers_problems(first, second) == [
        f"consumers[1].credentials[0].{field}: {what} is already used by consumer 'a' "
        f"(consumers[0].credentials[0].{field})"
    ]


def test_credentials_are_indexed_by_what_a_request_presents() -> None:
    consumer = {"name": "c", "groups": ["admins"], "credentials": [
        {"type": "basic-auth", "username": "u", "password_hash": PASSWORD_HASH},
        {"type": "jwt", "issuer": "iss", "secret": "s"},
        {"type": "hmac", "username": "kid", "secret": "s"},
    ]}  # fmt: skip
    result = compiled(base(consumers=[consumer]))
    index = result.credentials
    assert index.by_basic_username["u"].credential.password_hash == PASSWORD_HASH
    assert index.by_jwt_issuer["iss"].credential.algorithm == "HS256"
    assert index.by_hmac_username["kid"].consumer is result.consumers["c"]
    assert result.consumers["c"].groups == frozenset({"admins"})


def test_a_consumer_usage_plan_must_exist() -> None:
    assert consumers_problems({"name": "c", "usage_plan": "gold"}) == [
        "consumers[0].usage_plan: unknown usage plan 'gold' (none are defined)"
    ]


def test_a_consumer_is_linked_to_its_usage_plan() -> None:
    data = base(usage_plans=[{"name": "gold", "throttle": {"rate": 10, "burst": 20}}],
                consumers=[{"name": "c", "usage_plan": "gold"}])  # fmt: skip
    plan = compiled(data).consumers["c"].usage_plan
    assert plan is not None
    assert (plan.name, plan.rate, plan.burst) == ("gold", 10.0, 20)


def test_an_empty_group_name_is_refused() -> None:
    assert consumers_problems({"name": "c", "groups": ["ok", " "]}) == [
        "consumers[0].groups[1]: must not be empty"
    ]


# -- usage plans --------------------------------------------------------------------------


def plan_problems(*plans: dict[str, Any]) -> list[str]:
    return problems(base(usage_plans=list(plans)))


def test_usage_plan_names_are_required_and_unique() -> None:
    assert plan_problems({"name": ""}, {"name": "a"}, {"name": "a"}) == [
        "usage_plans[0].name: a usage plan name is required",
        "usage_plans[2].name: duplicate usage plan name 'a' (also usage_plans[1])",
    ]


@pytest.mark.parametrize("rate", [0, -1, "NaN", "Infinity"])
def test_a_throttle_rate_must_be_above_zero(rate: object) -> None:
    assert plan_problems({"name": "p", "throttle": {"rate": rate}}) == [
        "usage_plans[0].throttle.rate: must be above 0 and at most 1e+09"
    ]


def test_a_throttle_burst_may_not_be_negative() -> None:
    assert plan_problems({"name": "p", "throttle": {"rate": 1, "burst": -1}}) == [
        "usage_plans[0].throttle.burst: must be between 0 and 1000000000"
    ]


def test_a_quota_needs_a_positive_limit_and_a_known_period() -> None:
    assert plan_problems({"name": "p", "quota": {"limit": 0, "period": "year"}}) == [
        "usage_plans[0].quota.limit: must be 1 or more",
        "usage_plans[0].quota.period: must be one of day, week, month (got 'year')",
    ]


def test_usage_plan_routes_must_exist() -> None:
    assert plan_problems({"name": "p", "routes": ["users-api", "user-api"]}) == [
        "usage_plans[0].routes[1]: unknown route 'user-api' (known: users-api; "
        "did you mean 'users-api'?)"
    ]

"""basic-auth: PBKDF2 hashes checked off the loop, successes remembered briefly."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from edgeway.common.config.secrets import derived_salt, hash_password
from edgeway.edge.policies.base import LocalResponse
from edgeway.edge.policies.basic_auth.handler import parse_basic
from tests.support.exchange import TestExchange, serve
from tests.unit.edge.policies.helpers import (
    Clock,
    build,
    chain_of,
    config_problems,
    gateway,
    services,
)

HASH = hash_password("s3cret:with colon", salt=derived_salt("ops", "alice"))
CONFIG = gateway(consumers=[{"name": "ops", "credentials": [
    {"type": "basic-auth", "username": "alice", "password_hash": HASH}]}])  # fmt: skip


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"authorization": f"Basic {token}"}


def handler(clock: Clock, config: dict[str, Any] | None = None) -> Any:
    return build("basic-auth", config, compiled_config=CONFIG, using=services(clock))


async def test_a_valid_user_and_password_names_the_consumer_and_is_hidden() -> None:
    exchange = TestExchange.of(basic("alice", "s3cret:with colon"))
    response = await serve(chain_of(handler(Clock())), exchange)
    assert response.status == 200
    assert exchange.consumer is not None
    assert exchange.consumer.name == "ops"
    assert "authorization" not in exchange.headers


async def test_a_success_is_remembered_so_pbkdf2_runs_once_until_the_ttl() -> None:
    clock = Clock()
    auth = handler(clock)
    first = auth.on_request(TestExchange.of(basic("alice", "s3cret:with colon")))
    assert first is not None
    assert await first is None  # the slow path: an awaitable
    again = auth.on_request(TestExchange.of(basic("alice", "s3cret:with colon")))
    assert again is None  # the fast path: remembered
    clock.advance(61)
    expired = auth.on_request(TestExchange.of(basic("alice", "s3cret:with colon")))
    assert expired is not None
    assert await expired is None


async def test_a_wrong_password_is_never_remembered() -> None:
    auth = handler(Clock())
    for _ in range(2):
        outcome = auth.on_request(TestExchange.of(basic("alice", "wrong")))
        response = await outcome
        assert response is not None
        assert response.status == 401
        assert json.loads(response.body)["code"] == "invalid_credentials"


NO_COLON = "Basic " + base64.b64encode(b"nocolon").decode()


@pytest.mark.parametrize("headers", [{}, {"authorization": "Bearer x"},
                                     {"authorization": "Basic !!!"},
                                     {"authorization": NO_COLON}])
async def test_missing_or_malformed_credentials_are_401(headers: dict[str, str]) -> None:
    response = await serve(chain_of(handler(Clock())), TestExchange.of(headers))
    assert response.status == 401
    assert response.headers["www-authenticate"] == 'Basic realm="edgeway"'


async def test_an_unknown_user_is_checked_like_a_wrong_password_then_refused() -> None:
    outcome = handler(Clock()).on_request(TestExchange.of(basic("bob", "x")))
    assert outcome is not None
    assert not isinstance(outcome, LocalResponse)  # the slow path, as for a wrong password
    refused = await outcome
    assert refused is not None
    assert refused.status == 401


def test_parse_basic_reads_user_and_password() -> None:
    assert parse_basic("basic " + base64.b64encode(b"a:b:c").decode()) == ("a", "b:c")
    assert parse_basic("Basic") is None


def test_configs_are_checked() -> None:
    assert config_problems("basic-auth", {"realm": 'a"b'}) == [
        "routes[0].policies[0].config.realm: must be printable text without quotes or backslashes"
    ]
    assert config_problems("basic-auth", {"cache_ttl_s": 7200}) == [
        "routes[0].policies[0].config.cache_ttl_s: must be at most 3600"
    ]
    assert config_problems("basic-auth", {"realm": "api", "cache_ttl_s": 0}) == []

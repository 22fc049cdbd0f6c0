"""key-auth: keys in a header or the query, looked up by hash, hidden from the upstream."""

from __future__ import annotations

import json
from typing import Any

import pytest

from edgeway.common.config.secrets import KEY_HASH_PREFIX, hash_api_key
from edgeway.edge.policies.key_auth.handler import key_digest
from edgeway.edge.policies.key_auth.schema import NOWHERE_TO_LOOK
from tests.support.exchange import TestExchange, serve
from tests.unit.edge.policies.helpers import build, chain_of, config_problems, gateway

CONSUMERS = [
    {"name": "acme", "credentials": [{"type": "key-auth", "key": "acme-secret-key", "id": "k1"}]},
    {"name": "globex", "credentials": [{"type": "key-auth",
                                        "key_hash": hash_api_key("globex-key")}]},
]  # fmt: skip


def handler(config: dict[str, Any] | None = None) -> Any:
    return build("key-auth", config, compiled_config=gateway(consumers=CONSUMERS))


async def call(exchange: TestExchange, config: dict[str, Any] | None = None) -> Any:
    return await serve(chain_of(handler(config)), exchange)


async def test_a_key_in_the_default_header_names_the_consumer_and_is_hidden() -> None:
    exchange = TestExchange.of({"apikey": "acme-secret-key", "accept": "*/*"})
    response = await call(exchange)
    assert response.status == 200
    assert exchange.consumer is not None
    assert exchange.consumer.name == "acme"
    assert exchange.credential is not None
    assert exchange.credential.id == "k1"
    assert exchange.headers.get("apikey") is None
    assert exchange.headers["x-consumer-name"] == "acme"
    assert exchange.headers["x-credential-id"] == "k1"


async def test_a_key_in_the_query_works_and_is_removed_from_it() -> None:
    exchange = TestExchange.of(query="apikey=globex-key&page=2")
    assert (await call(exchange)).status == 200
    assert exchange.consumer is not None
    assert exchange.consumer.name == "globex"
    assert "apikey" not in exchange.query_params
    assert exchange.query_params["page"] == ("2",)


async def test_hide_credentials_false_keeps_the_key() -> None:
    exchange = TestExchange.of({"apikey": "acme-secret-key"})
    await call(exchange, {"hide_credentials": False})
    assert exchange.headers["apikey"] == "acme-secret-key"


async def test_a_client_cannot_claim_a_consumer_by_header() -> None:
    exchange = TestExchange.of({"apikey": "globex-key", "x-consumer-name": "acme"})
    await call(exchange)
    assert exchange.headers["x-consumer-name"] == "globex"
    assert "x-credential-id" not in exchange.headers


async def test_a_missing_key_is_401_with_a_challenge() -> None:
    response = await call(TestExchange.of())
    assert response.status == 401
    assert json.loads(response.body or b"")["code"] == "missing_credentials"
    assert response.headers["www-authenticate"] == 'Key realm="edgeway"'


async def test_a_wrong_key_is_401_invalid() -> None:
    response = await call(TestExchange.of({"apikey": "nope"}))
    assert response.status == 401
    assert json.loads(response.body or b"")["code"] == "invalid_credentials"


async def test_custom_names_are_tried_in_order_and_query_can_be_refused() -> None:
    config = {"key_names": ["X-API-Key", "token"], "key_in_query": False}
    ok = TestExchange.of({"x-api-key": "acme-secret-key"})
    assert (await call(ok, config)).status == 200
    in_query = TestExchange.of(query="token=acme-secret-key")
    assert (await call(in_query, config)).status == 401


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"key_names": []}, "routes[0].policies[0].config.key_names: must not be empty"),
        ({"key_names": ["bad name"]}, "routes[0].policies[0].config.key_names[0]: must be an"
         " HTTP header name (letters, digits, - and _)"),
        ({"key_in_header": False, "key_in_query": False},
         f"routes[0].policies[0].config.key_in_query: {NOWHERE_TO_LOOK}"),
        ({"hide_credentials": "yes"},
         "routes[0].policies[0].config.hide_credentials: expected true or false, got string"),
        ({"keys": ["a"]}, "routes[0].policies[0].config.keys: unknown field (known fields:"
         " anonymous, hide_credentials, key_in_header, key_in_query, key_names)"),
    ],
)  # fmt: skip
def test_invalid_configs_name_the_field(config: dict[str, Any], expected: str) -> None:
    assert config_problems("key-auth", config) == [expected]


def test_valid_configs_pass() -> None:
    assert config_problems("key-auth", {}) == []
    assert config_problems("key-auth", {"key_names": ["apikey", "x-key"],
                                        "key_in_query": False}) == []  # fmt: skip


@pytest.mark.parametrize("key", ["acme-secret-key", "", "k", "clé-ünïcode-鍵", "a" * 300])
def test_the_handler_hashes_keys_as_the_config_stores_them(key: str) -> None:
    assert KEY_HASH_PREFIX + key_digest(key).hex() == hash_api_key(key)


async def test_identity_headers_are_worked_out_once_per_consumer_and_never_change() -> None:
    """identify() hands the same immutable mapping for the same consumer, credential and
    hidden header (the proxy renders its lines once), and a new one for another consumer."""
    handed: list[Any] = []

    class Recording(TestExchange):
        def change_headers(self, changes: Any) -> None:
            handed.append(changes)
            super().change_headers(changes)

    chain = chain_of(handler())
    for key in ("acme-secret-key", "acme-secret-key", "globex-key"):
        assert (await serve(chain, Recording.of({"apikey": key}))).status == 200
    first, again, other = handed
    assert first is again
    assert dict(first) == {"x-consumer-name": "acme", "x-credential-id": "k1",
                           "x-anonymous-consumer": None, "apikey": None}  # fmt: skip
    assert other["x-consumer-name"] == "globex"
    with pytest.raises(TypeError):
        first["x-consumer-name"] = "forged"


async def test_a_connection_remembers_its_last_key_and_checks_every_request_against_it() -> None:
    """Requests of one connection share its memo: the same key again names the same consumer
    without a digest lookup; another key, a wrong one or a key in another header is judged
    afresh; a memo never vouches for a key it did not verify."""
    policy = handler()
    chain = chain_of(policy)
    memo: dict[object, Any] = {}

    def on_connection(headers: dict[str, str]) -> TestExchange:
        return TestExchange.of(headers, connection_memo=memo)

    first = on_connection({"apikey": "acme-secret-key"})
    assert (await serve(chain, first)).status == 200
    assert memo["key-auth"].key == "acme-secret-key"
    policy.digests = {}  # from now on only the memo can admit a key
    again = on_connection({"apikey": "acme-secret-key"})
    assert (await serve(chain, again)).status == 200
    assert again.consumer is first.consumer
    assert again.headers["x-consumer-name"] == "acme"
    assert again.headers.get("apikey") is None
    for headers in ({"apikey": "acme-secret-kez"}, {"apikey": "acme-secret-key-and-more"},
                    {"apikey": "globex-key"}):  # fmt: skip
        refused = await serve(chain, on_connection(headers))
        assert json.loads(refused.body or b"")["code"] == "invalid_credentials", headers
    assert memo["key-auth"].key == "acme-secret-key"  # a refusal does not replace it


async def test_a_key_found_in_another_header_is_not_taken_from_the_memo() -> None:
    policy = handler({"key_names": ["apikey", "x-key"]})
    memo: dict[object, Any] = {}
    first = TestExchange.of({"apikey": "acme-secret-key"}, connection_memo=memo)
    assert (await serve(chain_of(policy), first)).status == 200
    other = TestExchange.of({"x-key": "acme-secret-key"}, connection_memo=memo)
    assert (await serve(chain_of(policy), other)).status == 200
    assert other.headers.get("x-key") is None  # hidden: its own header, not the memo's
    assert memo["key-auth"].hidden == "x-key"


async def test_a_new_config_version_does_not_use_the_old_versions_memo() -> None:
    """The memo's entry names the policy that verified the key, and every config version has
    its own: a key revoked by a new version is refused on a connection that used it before,
    and the entry no longer holds the old version."""
    memo: dict[object, Any] = {}
    before = handler()
    exchange = TestExchange.of({"apikey": "acme-secret-key"}, connection_memo=memo)
    assert (await serve(chain_of(before), exchange)).status == 200
    after = build("key-auth", None, compiled_config=gateway(consumers=CONSUMERS[1:]))
    refused = await serve(chain_of(after),
                          TestExchange.of({"apikey": "acme-secret-key"}, connection_memo=memo))
    assert refused.status == 401
    assert (await serve(chain_of(after),
                        TestExchange.of({"apikey": "globex-key"}, connection_memo=memo))
            ).status == 200  # fmt: skip
    assert memo["key-auth"].policy is after


async def test_a_key_that_is_not_ascii_is_verified_every_time() -> None:
    key = "clé-secrète"
    consumers = [{"name": "accent", "credentials": [{"type": "key-auth", "key": key}]}]
    policy = build("key-auth", None, compiled_config=gateway(consumers=consumers))
    memo: dict[object, Any] = {}
    for _ in range(2):
        exchange = TestExchange.of({"apikey": key}, connection_memo=memo)
        assert (await serve(chain_of(policy), exchange)).status == 200
        assert exchange.consumer is not None
        assert exchange.consumer.name == "accent"
    assert "key-auth" not in memo  # compare_digest takes ASCII text only

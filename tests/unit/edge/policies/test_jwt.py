"""jwt with static keys (consumers' credentials): claims, algorithms and the classic attacks.
JWKS over real HTTP is tested in tests/policies/test_jwks.py."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import pytest

from edgeway.edge.policies.jwt.handler import CLAIMS
from edgeway.edge.policies.jwt.keys import KeyEntry, compatible, parse_jwks
from edgeway.edge.policies.jwt.schema import JWKS_NEEDS_HTTPS
from tests.support.exchange import TestExchange, TestResponse, serve
from tests.support.jwtkeys import ec_pair, ed_pair, rsa_pair, token
from tests.unit.edge.policies.helpers import build, chain_of, config_problems, gateway

SECRET = "a-shared-secret-of-some-length-32b"
CONFIG = gateway(consumers=[
    {"name": "hs-app", "credentials": [{"type": "jwt", "issuer": "hs-issuer", "secret": SECRET}]},
    {"name": "rs-app", "credentials": [{"type": "jwt", "issuer": "rs-issuer", "algorithm": "RS256",
                                        "public_key": rsa_pair().public_pem}]},
    {"name": "es-app", "credentials": [{"type": "jwt", "issuer": "es-issuer", "algorithm": "ES256",
                                        "public_key": ec_pair().public_pem}]},
])  # fmt: skip


async def call(bearer: str | None, config: dict[str, Any] | None = None) -> tuple[
        TestResponse, TestExchange]:  # fmt: skip
    headers = {"authorization": f"Bearer {bearer}"} if bearer else {}
    exchange = TestExchange.of(headers)
    handler = build("jwt", config, compiled_config=CONFIG)
    return await serve(chain_of(handler), exchange), exchange


def code(response: TestResponse) -> str:
    return str(json.loads(response.body or b"")["code"])


async def test_an_hs256_token_of_a_known_issuer_names_its_consumer() -> None:
    response, exchange = await call(token(secret=SECRET, iss="hs-issuer", sub="u1"))
    assert response.status == 200
    assert exchange.consumer is not None
    assert exchange.consumer.name == "hs-app"
    assert exchange.context[CLAIMS]["sub"] == "u1"


@pytest.mark.parametrize("pair_issuer", [(rsa_pair, "rs-issuer"), (ec_pair, "es-issuer")])
async def test_asymmetric_tokens_verify_with_the_credentials_public_key(pair_issuer: Any) -> None:
    pair, issuer = pair_issuer
    response, exchange = await call(token(pair(), iss=issuer))
    assert response.status == 200
    assert exchange.consumer is not None


@pytest.mark.parametrize(
    ("bearer", "expected"),
    [
        (None, "missing_token"),
        ("not.a.token", "invalid_token"),
        (token(secret=SECRET, iss="hs-issuer", lifetime=-100), "token_expired"),
        (token(secret="another-secret-that-is-long-enough", iss="hs-issuer"), "invalid_token"),
        (token(secret=SECRET, iss="nobody"), "invalid_token"),
    ],
)  # fmt: skip
async def test_bad_tokens_are_refused_with_a_code(bearer: str | None, expected: str) -> None:
    response, exchange = await call(bearer)
    assert response.status == 401
    assert code(response) == expected
    assert response.headers["www-authenticate"].startswith("Bearer error=")
    assert exchange.consumer is None


def _forge(header: dict[str, Any], claims: dict[str, Any], key: bytes) -> str:
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing = b64(json.dumps(header).encode()) + "." + b64(json.dumps(claims).encode())
    signature = hmac.new(key, signing.encode(), hashlib.sha256).digest() if key else b""
    return signing + "." + b64(signature)


async def test_alg_none_is_refused() -> None:
    forged = _forge({"alg": "none", "typ": "JWT"}, {"iss": "hs-issuer",
                                                    "exp": time.time() + 60}, b"")  # fmt: skip
    response, _ = await call(forged)
    assert response.status == 401
    assert json.loads(response.body or b"")["message"] == "the token's algorithm is not accepted"


async def test_hs256_signed_with_the_rsa_public_key_is_refused() -> None:
    """Key confusion: the attacker signs HS256 using the (public) RSA key as the secret."""
    pem = rsa_pair().public_pem.encode()
    forged = _forge({"alg": "HS256", "typ": "JWT"}, {"iss": "rs-issuer",
                                                     "exp": time.time() + 60}, pem)  # fmt: skip
    response, _ = await call(forged)
    assert response.status == 401
    assert json.loads(response.body or b"")["message"] == "the token's algorithm is not accepted"


async def test_issuer_audience_required_claims_and_scopes() -> None:
    config = {"issuer": "hs-issuer", "audience": ["orders-api"], "required_claims": ["exp", "sub"],
              "scopes": ["orders:read"]}  # fmt: skip
    good = token(secret=SECRET, iss="hs-issuer", aud="orders-api", sub="u",
                 scope="orders:read profile")  # fmt: skip
    assert (await call(good, config))[0].status == 200
    wrong_aud = token(secret=SECRET, iss="hs-issuer", aud="billing", sub="u", scope="orders:read")
    assert json.loads((await call(wrong_aud, config))[0].body or b"")["message"] == (
        "the token is not for this audience")
    no_sub = token(secret=SECRET, iss="hs-issuer", aud="orders-api", scope="orders:read")
    assert json.loads((await call(no_sub, config))[0].body or b"")["message"] == (
        "the token lacks a required claim")
    no_scope = token(secret=SECRET, iss="hs-issuer", aud="orders-api", sub="u", scope="profile")
    response, _ = await call(no_scope, config)
    assert (response.status, code(response)) == (403, "insufficient_scope")
    listed = token(secret=SECRET, iss="hs-issuer", aud=["x", "orders-api"], sub="u",
                   scope=["orders:read"])  # fmt: skip
    assert (await call(listed, config))[0].status == 200


async def test_not_before_respects_the_clock_skew() -> None:
    soon = token(secret=SECRET, iss="hs-issuer", nbf=int(time.time()) + 20)
    assert (await call(soon))[0].status == 200  # within the default 30 s skew
    later = token(secret=SECRET, iss="hs-issuer", nbf=int(time.time()) + 120)
    assert json.loads((await call(later))[0].body or b"")["message"] == (
        "the token is not valid yet (nbf/iat)")


async def test_a_token_in_a_cookie_or_query_parameter() -> None:
    value = token(secret=SECRET, iss="hs-issuer")
    handler = build("jwt", {"cookie_names": ["session"], "query_params": ["jwt"]},
                    compiled_config=CONFIG)  # fmt: skip
    by_cookie = TestExchange.of({"cookie": f"a=b; session={value}"})
    assert (await serve(chain_of(handler), by_cookie)).status == 200
    by_query = TestExchange.of(query=f"jwt={value}")
    assert (await serve(chain_of(handler), by_query)).status == 200


def test_keys_verify_only_their_own_family() -> None:
    rsa_entry = KeyEntry(None, "RSA", None)
    assert compatible(rsa_entry, "RS256")
    assert compatible(rsa_entry, "PS512")
    assert not compatible(rsa_entry, "HS256")
    assert not compatible(rsa_entry, "ES256")
    assert not compatible(KeyEntry(None, "RSA", "RS256"), "RS512")
    assert not compatible(KeyEntry(None, "oct", None), "HS256")


def test_a_jwks_keeps_signature_keys_only() -> None:
    keys = parse_jwks({"keys": [
        rsa_pair().jwk(), ec_pair().jwk(), ed_pair().jwk(),
        {"kty": "oct", "k": "c2VjcmV0", "kid": "sym"},
        {**rsa_pair("enc").jwk(), "use": "enc", "kid": "enc"},
        {"kty": "RSA", "kid": "broken", "n": "x"},
    ]})  # fmt: skip
    assert sorted(k for k in keys if k) == ["ec-1", "ed-1", "rsa-1"]
    with pytest.raises(ValueError, match="'keys' list"):
        parse_jwks({"nope": []})


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"jwks_url": "http://idp.example.com/jwks"},
         f"routes[0].policies[0].config.jwks_url: {JWKS_NEEDS_HTTPS}"),
        ({"jwks_url": "ftp://idp/jwks"},
         "routes[0].policies[0].config.jwks_url: must be an http(s) URL"),
        ({"algorithms": ["none"]}, "routes[0].policies[0].config.algorithms[0]: must be one of"
         " HS256, HS384, HS512, RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA"),
        ({"clock_skew_s": 3600}, "routes[0].policies[0].config.clock_skew_s: must be at most 600"),
        ({"consumer_claim": "sub"}, "routes[0].policies[0].config.consumer_claim: consumer_claim"
         " applies with jwks_url (without it the issuer's credential names the consumer)"),
        ({"header_names": []},
         "routes[0].policies[0].config.header_names: the token must be looked for somewhere"),
    ],
)  # fmt: skip
def test_invalid_configs_name_the_field(config: dict[str, Any], expected: str) -> None:
    assert config_problems("jwt", config) == [expected]


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080/jwks", "http://localhost/jwks",
                                 "http://[::1]:9/jwks", "https://idp.example.com/jwks"])
def test_https_or_loopback_jwks_urls_are_valid(url: str) -> None:
    assert config_problems("jwt", {"jwks_url": url}) == []

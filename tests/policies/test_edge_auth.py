"""Authentication and authorization through a real edge process: key-auth, basic-auth, acl and
jwt against a JWKS served by a real HTTP server (attacks, rotation), consumers' own policies."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.policies.edge_helpers import call, echoed, error_code, sent_header
from tests.support.edge_process import StandaloneEdge
from tests.support.jwks import JwksServer
from tests.support.jwtkeys import KeyPair, ec_pair, rsa_pair, token

ISSUER = "https://idp.test/"


def config(upstream: int, jwks_url: str) -> str:
    return f"""\
consumers:
  - name: acme
    groups: [gold]
    credentials:
      - {{type: key-auth, key: "acme-key", id: "acme-key-1"}}
      - {{type: basic-auth, username: "acme", password: "acme-password"}}
  - name: bob
    groups: [silver]
    credentials:
      - {{type: key-auth, key: "bob-key"}}
    policies:
      - name: request-transform
        config: {{headers: {{add: {{x-tier: "silver-$(consumer.name)"}}}}}}
upstreams:
  - name: echo
    targets: [{{address: "127.0.0.1:{upstream}"}}]
routes:
  - id: keyed
    paths: ["/keyed"]
    upstream: echo
    policies:
      - name: key-auth
  - id: basic
    paths: ["/basic"]
    upstream: echo
    policies:
      - name: basic-auth
  - id: gold
    paths: ["/gold"]
    upstream: echo
    policies:
      - name: key-auth
      - name: acl
        config: {{allow: [gold]}}
  - id: jwt
    paths: ["/jwt"]
    upstream: echo
    policies:
      - name: jwt
        config: {{jwks_url: "{jwks_url}", issuer: "{ISSUER}", audience: [orders-api],
                  jwks_min_refetch_s: 1}}
"""


@pytest.fixture(scope="module")
def idp() -> Iterator[JwksServer]:
    server = JwksServer([rsa_pair().jwk()]).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def edge(echo_port: int, idp: JwksServer, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[StandaloneEdge]:  # fmt: skip
    running = StandaloneEdge(config(echo_port, idp.url), tmp_path_factory.mktemp("auth"))
    running.start()
    yield running
    running.stop()


# -- key-auth ---------------------------------------------------------------------------------


async def test_key_auth_admits_a_key_in_the_header_and_hides_it_from_the_upstream(
    edge: StandaloneEdge,
) -> None:
    response = await call(edge.port, "/keyed", headers=[("apikey", "acme-key")])
    assert sent_header(response, "apikey") is None
    assert sent_header(response, "x-consumer-name") == "acme"
    assert sent_header(response, "x-credential-id") == "acme-key-1"


async def test_key_auth_admits_a_key_in_the_query_and_hides_it_from_the_upstream(
    edge: StandaloneEdge,
) -> None:
    response = await call(edge.port, "/keyed?page=2&apikey=acme-key&sort=a%20b")
    received = echoed(response)
    assert received["query"] == "page=2&sort=a%20b"
    assert sent_header(response, "x-consumer-name") == "acme"


async def test_key_auth_refuses_missing_and_wrong_keys_and_a_spoofed_consumer_header(
    edge: StandaloneEdge,
) -> None:
    missing = await call(edge.port, "/keyed", headers=[("x-consumer-name", "acme")])
    assert (missing.status, error_code(missing)) == (401, "missing_credentials")
    assert missing.header("www-authenticate") == 'Key realm="edgeway"'
    assert missing.header("x-request-id")
    wrong = await call(edge.port, "/keyed", headers=[("apikey", "nope")])
    assert (wrong.status, error_code(wrong)) == (401, "invalid_credentials")
    spoofed = await call(edge.port, "/keyed", headers=[("apikey", "bob-key"),
                                                       ("x-consumer-name", "acme")])
    assert sent_header(spoofed, "x-consumer-name") == "bob"


async def test_the_access_log_names_the_consumer(edge: StandaloneEdge) -> None:
    response = await call(edge.port, "/keyed", headers=[("apikey", "acme-key")])
    request_id = response.header("x-request-id")
    await asyncio.sleep(0.3)  # the access log is written every 50 ms
    line = next(line for line in edge.access_lines() if line["request_id"] == request_id)
    assert (line["route"], line["status"], line["consumer"]) == ("keyed", 200, "acme")


async def test_a_consumers_own_policies_run_after_authentication(edge: StandaloneEdge) -> None:
    bob = await call(edge.port, "/keyed", headers=[("apikey", "bob-key")])
    assert sent_header(bob, "x-tier") == "silver-bob"
    acme = await call(edge.port, "/keyed", headers=[("apikey", "acme-key")])
    assert sent_header(acme, "x-tier") is None


# -- basic-auth and acl -------------------------------------------------------------------------


def basic(user: str, password: str) -> tuple[str, str]:
    return "authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


async def test_basic_auth_checks_the_hashed_password(edge: StandaloneEdge) -> None:
    ok = await call(edge.port, "/basic", headers=[basic("acme", "acme-password")])
    assert sent_header(ok, "x-consumer-name") == "acme"
    assert sent_header(ok, "authorization") is None  # hidden by default
    again = await call(edge.port, "/basic", headers=[basic("acme", "acme-password")])
    assert again.status == 200  # from the verification cache
    wrong = await call(edge.port, "/basic", headers=[basic("acme", "guess")])
    assert (wrong.status, error_code(wrong)) == (401, "invalid_credentials")
    assert wrong.header("www-authenticate") == 'Basic realm="edgeway"'
    none = await call(edge.port, "/basic")
    assert (none.status, error_code(none)) == (401, "missing_credentials")


async def test_acl_admits_the_allowed_group_only(edge: StandaloneEdge) -> None:
    gold = await call(edge.port, "/gold", headers=[("apikey", "acme-key")])
    assert gold.status == 200
    silver = await call(edge.port, "/gold", headers=[("apikey", "bob-key")])
    assert (silver.status, error_code(silver)) == (403, "forbidden")
    anonymous = await call(edge.port, "/gold")
    assert (anonymous.status, error_code(anonymous)) == (401, "missing_credentials")


# -- jwt ----------------------------------------------------------------------------------------


def bearer(value: str) -> tuple[str, str]:
    return "authorization", "Bearer " + value


def good(pair: KeyPair | None = None, **claims: Any) -> str:
    return token(pair or rsa_pair(), iss=ISSUER, aud="orders-api", sub="user-7", **claims)


def forge(header: dict[str, Any], claims: dict[str, Any], key: bytes) -> str:
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing = b64(json.dumps(header).encode()) + "." + b64(json.dumps(claims).encode())
    signature = hmac.new(key, signing.encode(), hashlib.sha256).digest() if key else b""
    return signing + "." + b64(signature)


async def test_jwt_admits_a_token_signed_with_a_key_of_the_jwks(edge: StandaloneEdge) -> None:
    response = await call(edge.port, "/jwt", headers=[bearer(good())])
    assert echoed(response)["path"] == "/jwt"
    assert sent_header(response, "x-consumer-name") is None  # a token naming no consumer


async def test_jwt_attacks_are_refused(edge: StandaloneEdge) -> None:
    claims = {"iss": ISSUER, "aud": "orders-api", "exp": int(time.time()) + 60}
    impostor = KeyPair("rsa-1", "RS256", rsa_pair("other").private, rsa_pair("other").public)
    cases = {
        "expired": (good(lifetime=-120), "token_expired"),
        "wrong audience": (token(rsa_pair(), iss=ISSUER, aud="billing"), "invalid_token"),
        "wrong issuer": (token(rsa_pair(), iss="https://evil/", aud="orders-api"),
                         "invalid_token"),
        "bad signature": (impostor.sign(claims), "invalid_token"),
        "alg none": (forge({"alg": "none", "kid": "rsa-1"}, claims, b""), "invalid_token"),
        "hs256 with the rsa public key": (
            forge({"alg": "HS256", "kid": "rsa-1"}, claims, rsa_pair().public_pem.encode()),
            "invalid_token"),
        "tampered": (good()[:-30] + "A" * 30, "invalid_token"),
    }  # fmt: skip
    for name, (value, code) in cases.items():
        response = await call(edge.port, "/jwt", headers=[bearer(value)])
        assert (response.status, error_code(response)) == (401, code), name
        assert (response.header("www-authenticate") or "").startswith("Bearer"), name
    missing = await call(edge.port, "/jwt")
    assert (missing.status, error_code(missing)) == (401, "missing_token")


async def test_jwt_picks_up_a_rotated_jwks_without_restart(edge: StandaloneEdge,
                                                           idp: JwksServer) -> None:
    assert (await call(edge.port, "/jwt", headers=[bearer(good())])).status == 200
    idp.keys = [ec_pair("ec-rotated").jwk()]  # the IdP rotates to a new key
    rotated = good(ec_pair("ec-rotated"))
    deadline = time.monotonic() + 5  # refetches on an unknown kid are at most 1/s
    status = 0
    while time.monotonic() < deadline:
        status = (await call(edge.port, "/jwt", headers=[bearer(rotated)])).status
        if status == 200:
            break
        await asyncio.sleep(0.2)
    assert status == 200
    old = await call(edge.port, "/jwt", headers=[bearer(good())])
    assert old.status == 401  # the retired key is gone from the set

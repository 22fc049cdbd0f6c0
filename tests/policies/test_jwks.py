"""jwt with a JWKS served by a real local HTTP server: attacks, rotation, stale keys."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from edgeway.edge.policies.services import Services
from tests.support.exchange import TestExchange, TestResponse, serve
from tests.support.jwtkeys import KeyPair, ec_pair, rsa_pair, token
from tests.unit.edge.policies.helpers import build, chain_of, gateway

ISSUER = "https://idp.test/"


class JwksServer:
    """A real HTTP server on loopback serving ``keys`` as a JWKS, counting fetches."""

    def __init__(self) -> None:
        self.keys: list[dict[str, Any]] = [rsa_pair().jwk()]
        self.fetches = 0
        self.runner: web.AppRunner | None = None
        self.port = 0

    async def handle(self, request: web.Request) -> web.Response:
        self.fetches += 1
        return web.json_response({"keys": self.keys})

    async def start(self, port: int = 0) -> None:
        app = web.Application()
        app.router.add_get("/jwks", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/jwks"


@pytest.fixture
async def idp() -> AsyncIterator[JwksServer]:
    server = JwksServer()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def services() -> AsyncIterator[Services]:
    made = Services()
    try:
        yield made
    finally:
        await made.aclose()


def policy(idp: JwksServer, services: Services, **extra: Any) -> Any:
    config = {"jwks_url": idp.url, "issuer": ISSUER, "audience": ["orders-api"],
              "jwks_min_refetch_s": 1, **extra}  # fmt: skip
    consumers = [{"name": "acme"}]
    return build("jwt", config, compiled_config=gateway(consumers=consumers), using=services)


async def call(handler: Any, bearer: str) -> TestResponse:
    exchange = TestExchange.of({"authorization": f"Bearer {bearer}"})
    return await serve(chain_of(handler), exchange)


def good(pair: KeyPair | None = None, **claims: Any) -> str:
    return token(pair or rsa_pair(), iss=ISSUER, aud="orders-api", **claims)


def message(response: TestResponse) -> str:
    return str(json.loads(response.body or b"")["message"])


async def test_a_token_signed_by_a_jwks_key_is_accepted(idp: JwksServer,
                                                        services: Services) -> None:
    handler = policy(idp, services)
    assert (await call(handler, good())).status == 200
    assert (await call(handler, good())).status == 200
    assert idp.fetches == 1  # the set is fetched once, then verified synchronously


def _forge(header: dict[str, Any], claims: dict[str, Any], key: bytes) -> str:
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing = b64(json.dumps(header).encode()) + "." + b64(json.dumps(claims).encode())
    signature = hmac.new(key, signing.encode(), hashlib.sha256).digest() if key else b""
    return signing + "." + b64(signature)


async def test_attacks_are_refused(idp: JwksServer, services: Services) -> None:
    handler = policy(idp, services)
    claims = {"iss": ISSUER, "aud": "orders-api", "exp": int(time.time()) + 60}
    impostor = KeyPair("rsa-1", "RS256", rsa_pair("other").private, rsa_pair("other").public)
    cases = {
        "expired": (good(lifetime=-120), "the token has expired"),
        "wrong audience": (token(rsa_pair(), iss=ISSUER, aud="billing"),
                           "the token is not for this audience"),
        "wrong issuer": (token(rsa_pair(), iss="https://evil/", aud="orders-api"),
                         "the token's issuer is not accepted"),
        "bad signature": (impostor.sign(claims), "the token's signature is not valid"),
        "alg none": (_forge({"alg": "none", "kid": "rsa-1"}, claims, b""),
                     "the token's algorithm is not accepted"),
        "hs256 with the rsa public key": (
            _forge({"alg": "HS256", "kid": "rsa-1"}, claims, rsa_pair().public_pem.encode()),
            "the token's algorithm is not accepted"),
        "tampered claims": (good()[:-30] + "A" * 30, "the token's signature is not valid"),
    }  # fmt: skip
    for name, (bearer, expected) in cases.items():
        response = await call(handler, bearer)
        assert (response.status, message(response)) == (401, expected), name


async def test_a_rotated_key_is_picked_up_without_restart(idp: JwksServer,
                                                          services: Services) -> None:
    handler = policy(idp, services)
    assert (await call(handler, good())).status == 200
    idp.keys = [ec_pair("ec-2").jwk()]  # the IdP rotates to a new key
    rotated = good(ec_pair("ec-2"))
    too_soon = await call(handler, rotated)  # refetches are rate-limited (1 s here)
    assert (too_soon.status, message(too_soon)) == (401, "no key is known for the token's key id")
    assert idp.fetches == 1
    await asyncio.sleep(1.05)
    assert (await call(handler, rotated)).status == 200
    assert idp.fetches == 2
    retired = await call(handler, good())  # the old key is gone from the set
    assert retired.status == 401


async def test_unknown_kids_cannot_make_the_edge_hammer_the_idp(idp: JwksServer,
                                                                services: Services) -> None:
    handler = policy(idp, services)
    await call(handler, good())
    unknown = [good(KeyPair(f"nope-{i}", "RS256", rsa_pair().private, rsa_pair().public))
               for i in range(20)]  # fmt: skip
    responses = await asyncio.gather(*(call(handler, bearer) for bearer in unknown))
    assert {r.status for r in responses} == {401}
    assert idp.fetches <= 2


async def test_concurrent_first_requests_share_one_fetch(idp: JwksServer,
                                                         services: Services) -> None:
    handler = policy(idp, services)
    responses = await asyncio.gather(*(call(handler, good()) for _ in range(10)))
    assert {r.status for r in responses} == {200}
    assert idp.fetches == 1


async def test_known_keys_are_served_stale_while_the_idp_is_down(idp: JwksServer,
                                                                 services: Services) -> None:
    handler = policy(idp, services)
    assert (await call(handler, good())).status == 200
    await idp.stop()
    await handler.jwks.refresh()  # a background refresh fails...
    assert handler.jwks.last_error
    assert (await call(handler, good())).status == 200  # ...and the known keys still verify


async def test_without_any_keys_yet_a_dead_idp_is_503(services: Services) -> None:
    dead = JwksServer()
    await dead.start()
    url_port = dead.port
    await dead.stop()
    dead.port = url_port
    response = await call(policy(dead, services, jwks_timeout_ms=500), good())
    assert response.status == 503
    assert json.loads(response.body or b"")["code"] == "jwks_unavailable"


async def test_a_consumer_claim_names_the_caller(idp: JwksServer, services: Services) -> None:
    handler = policy(idp, services, consumer_claim="azp")
    exchange = TestExchange.of({"authorization": f"Bearer {good(azp='acme')}"})
    assert (await serve(chain_of(handler), exchange)).status == 200
    assert exchange.consumer is not None
    assert exchange.consumer.name == "acme"
    stranger = await call(handler, good(azp="stranger"))
    assert message(stranger) == "the token names no known consumer"

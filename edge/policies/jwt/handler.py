"""Handler of the ``jwt`` policy: find the token, pick the key, verify, check scopes.

The header is read without trusting it only to choose a key: the algorithm must be one the
config accepts and one the chosen key is for (a JWKS key by its type and declared ``alg``; a
consumer credential by its configured algorithm), so ``none`` and HS256-signed-with-the-RSA-
public-key tokens are refused before any verification. PyJWT then verifies the signature and
the registered claims (``exp``, ``nbf``, ``iss``, ``aud``, required claims) with the leeway.
A known key verifies synchronously; an unknown ``kid`` awaits a (rate-limited) JWKS refetch.
With ``anonymous`` (see :mod:`edgeway.edge.policies._auth`) the 401 answers become the
anonymous consumer; ``insufficient_scope`` (403) and ``jwks_unavailable`` (503) stay.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from http.cookies import SimpleCookie
from typing import TYPE_CHECKING, Any, ClassVar

import jwt
import structlog

from edgeway.edge.policies._auth import Anonymous, identify, unauthorized
from edgeway.edge.policies._responses import error_response
from edgeway.edge.policies.base import Exchange, LocalResponse, Outcome, Phase, PolicyHandler
from edgeway.edge.policies.jwt.keys import JwksKeys, KeyEntry, compatible

if TYPE_CHECKING:
    from edgeway.edge.compile.model import CompiledConfig, CompiledConsumer, CredentialMatch
    from edgeway.edge.policies.services import Services

__all__ = ["CLAIMS", "JwtHandler"]

log = structlog.get_logger(__name__)

CLAIMS = "jwt.claims"
"""``Exchange.context`` key of the verified claims (templates read ``$(claim.NAME)``)."""

_StaticKey = tuple[Any, str, "CredentialMatch"]

_REASONS: dict[type[Exception], tuple[str, str]] = {
    jwt.ExpiredSignatureError: ("token_expired", "the token has expired"),
    jwt.ImmatureSignatureError: ("invalid_token", "the token is not valid yet (nbf/iat)"),
    jwt.InvalidAudienceError: ("invalid_token", "the token is not for this audience"),
    jwt.InvalidIssuerError: ("invalid_token", "the token's issuer is not accepted"),
    jwt.MissingRequiredClaimError: ("invalid_token", "the token lacks a required claim"),
    jwt.InvalidSignatureError: ("invalid_token", "the token's signature is not valid"),
    jwt.InvalidAlgorithmError: ("invalid_token", "the token's algorithm is not accepted"),
}


def _answer(code: str, message: str) -> LocalResponse:
    error = "invalid_request" if code == "missing_token" else "invalid_token"
    return unauthorized(code, message, f'Bearer error="{error}"')


class JwtHandler(PolicyHandler):
    """Admits requests with a valid token (see the module docstring)."""

    NAME: ClassVar[str] = "jwt"
    VERSION: ClassVar[str] = "1.0.0"
    PHASE: ClassVar[Phase] = Phase.AUTHENTICATION
    PRIORITY: ClassVar[int] = 1450

    missing = _answer("missing_token", "no bearer token found in the request")
    malformed = _answer("invalid_token", "the token is malformed")
    bad_algorithm = _answer("invalid_token", "the token's algorithm is not accepted")
    unknown_key = _answer("invalid_token", "no key is known for the token's key id")
    unknown_issuer = _answer("invalid_token", "the token's issuer is not known")
    unknown_consumer = _answer("invalid_token", "the token names no known consumer")
    jwks_unavailable = error_response(503, "jwks_unavailable",
                                      "the token issuer's keys could not be fetched")  # fmt: skip
    insufficient_scope = error_response(
        403, "insufficient_scope", "the token does not grant the scopes this route needs",
        (("www-authenticate", 'Bearer error="insufficient_scope"'),),
    )
    failures = tuple((kind, _answer(code, message)) for kind, (code, message) in _REASONS.items())
    invalid = _answer("invalid_token", "the token is not valid")

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)
        self.algorithms = frozenset(config["algorithms"])
        self.issuer: str | None = config.get("issuer")
        self.audience = list(config["audience"]) or None
        self.leeway = int(config["clock_skew_s"])
        self.options: Any = {"require": list(config["required_claims"]),
                             "verify_aud": self.audience is not None}  # fmt: skip
        self.scopes = frozenset(config["scopes"])
        self.scope_claim: str = config["scope_claim"]
        self.consumer_claim: str | None = config.get("consumer_claim")
        self.header_names = tuple(h.lower() for h in config["header_names"])
        self.query_params = tuple(config["query_params"])
        self.cookie_names = tuple(config["cookie_names"])
        self.hide = bool(config["hide_credentials"])
        self.jwks_url: str | None = config.get("jwks_url")
        self.jwks: JwksKeys | None = None
        self.static: dict[str, _StaticKey] = {}
        self.consumers: Mapping[str, CompiledConsumer] = {}
        name = config.get("anonymous")
        self.anonymous = Anonymous(name) if name is not None else None

    def bind(self, config: CompiledConfig, services: Services) -> None:
        self.consumers = config.consumers
        if self.anonymous is not None:
            self.anonymous.bind(self.NAME, self.config, config.consumers)
        if self.jwks_url is not None:
            c = self.config
            timings = (c["jwks_refresh_s"], c["jwks_min_refetch_s"], c["jwks_timeout_ms"] / 1000)
            self.jwks = services.shared(("jwks", self.jwks_url, timings), lambda: JwksKeys(
                self.jwks_url or "", services, refresh_s=timings[0], min_refetch_s=timings[1],
                timeout_s=timings[2]))  # fmt: skip
            return
        algorithms = jwt.algorithms.get_default_algorithms()
        for issuer, match in config.credentials.by_jwt_issuer.items():
            credential = match.credential
            try:
                material = credential.secret or credential.public_key
                key = algorithms[credential.algorithm].prepare_key(material)
            except (KeyError, ValueError, TypeError, jwt.InvalidKeyError) as exc:
                log.warning("jwt credential key unusable; its tokens are refused",
                            consumer=credential.consumer, error=str(exc))  # fmt: skip
                continue
            self.static[issuer] = (key, credential.algorithm, match)

    # -- per request --------------------------------------------------------------------

    def _token(self, exchange: Exchange) -> str | None:
        for name in self.header_names:
            value = exchange.header(name)
            if value:
                if self.hide:
                    exchange.remove_header(name)
                scheme, _, rest = value.partition(" ")
                return rest.strip() if rest and scheme.lower() == "bearer" else value.strip()
        for name in self.query_params:
            values = exchange.query_params.get(name)
            if values:
                return values[0]
        cookie = exchange.header("cookie") if self.cookie_names else None
        if cookie is not None:
            cookies = SimpleCookie(cookie.replace(",", ";"))
            for name in self.cookie_names:
                if name in cookies:
                    return cookies[name].value
        return None

    def on_request(self, exchange: Exchange) -> Outcome | Awaitable[Outcome]:
        if self.anonymous is not None:
            return self.anonymous.run(exchange, self.authenticate)
        return self.authenticate(exchange)

    def authenticate(self, exchange: Exchange) -> Outcome | Awaitable[Outcome]:
        """Verify the token and identify its consumer, or answer 401 (403, 503)."""
        token = self._token(exchange)
        if not token:
            return self.missing
        try:
            header = jwt.get_unverified_header(token)
        except jwt.DecodeError:
            return self.malformed
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self.algorithms:
            return self.bad_algorithm
        if self.jwks is not None:
            kid = header.get("kid")
            kid = kid if isinstance(kid, str) else None
            entry = self.jwks.lookup(kid)
            if entry is None:
                return self._fetch_then_verify(exchange, token, alg, kid)
            return self._with_key(exchange, token, alg, entry)
        try:
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.DecodeError:
            return self.malformed
        static = self.static.get(str(unverified.get("iss", "")))
        if static is None:
            return self.unknown_issuer
        key, algorithm, match = static
        if alg != algorithm:
            return self.bad_algorithm
        return self._verify(exchange, token, alg, key, match)

    async def _fetch_then_verify(
        self, exchange: Exchange, token: str, alg: str, kid: str | None
    ) -> Outcome:
        assert self.jwks is not None
        entry = await self.jwks.key(kid)
        if entry is None:
            return self.unknown_key if self.jwks.fetched_at is not None else self.jwks_unavailable
        return self._with_key(exchange, token, alg, entry)

    def _with_key(self, exchange: Exchange, token: str, alg: str, entry: KeyEntry) -> Outcome:
        if not compatible(entry, alg):
            return self.bad_algorithm
        return self._verify(exchange, token, alg, entry.key, None)

    def _verify(self, exchange: Exchange, token: str, alg: str, key: Any,
                match: CredentialMatch | None) -> Outcome:  # fmt: skip
        try:
            claims = jwt.decode(
                token, key, algorithms=[alg], audience=self.audience, issuer=self.issuer,
                leeway=self.leeway, options=self.options,
            )  # fmt: skip
        except jwt.PyJWTError as exc:
            return next((r for kind, r in self.failures if isinstance(exc, kind)), self.invalid)
        if self.scopes and not self.scopes <= _scopes(claims.get(self.scope_claim)):
            return self.insufficient_scope
        consumer = match.consumer if match is not None else None
        if self.consumer_claim is not None:
            consumer = self.consumers.get(str(claims.get(self.consumer_claim, "")))
            if consumer is None:
                return self.unknown_consumer
        exchange.context[CLAIMS] = claims
        identify(exchange, consumer, match.credential if match is not None else None)
        return None


def _scopes(value: Any) -> frozenset[str]:
    if isinstance(value, str):
        return frozenset(value.split())
    if isinstance(value, list):
        return frozenset(str(v) for v in value)
    return frozenset()

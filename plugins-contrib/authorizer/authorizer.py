"""authorizer: an external token authorizer (like an AWS Lambda authorizer), as a plugin service.

It takes the bearer token of ``authorization``, asks an OAuth 2.0 token introspection endpoint
(RFC 7662: ``POST token=...``, answer ``{"active": true, "sub": ..., "scope": ..., ...}``)
and either denies the request (401 without or with an inactive token, 403 without a required
scope) or lets it go on with the principal and chosen claims as upstream headers and context
values. It declares its cache key (the ``authorization`` header), so with ``cache_ttl_ms`` on
its endpoint the edge caches allow and deny verdicts per token: most requests never reach it.
An introspection endpoint that fails or times out is a plugin failure (never a cached deny):
the endpoint's failure mode decides.

Run: ``python plugins-contrib/authorizer/authorizer.py --listen 127.0.0.1:50062``.
"""

from __future__ import annotations

import argparse
import re
from typing import Any

import aiohttp
from pydantic import BaseModel, ConfigDict, Field, field_validator

from edgeway.sdk import CacheKey, Plugin, Request, Response, serve

__all__ = ["Authorizer", "AuthorizerConfig", "IntrospectionFailed"]

MISSING_TOKEN = "a bearer token is required"
INACTIVE_TOKEN = "the token is not active"
MISSING_SCOPE = "the token lacks a required scope"
_HEADER = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


class IntrospectionFailed(Exception):
    """The introspection endpoint did not give an answer (the edge's failure mode applies)."""


class AuthorizerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    introspection_url: str = Field(description="RFC 7662 endpoint, http(s)://...")
    client_id: str = Field("", description="Basic-auth user for the endpoint (optional).")
    client_secret: str = Field("", description="Basic-auth password for the endpoint.")
    timeout_ms: int = Field(1000, ge=10, le=10_000, description="Deadline of one introspection.")
    required_scopes: list[str] = Field(default_factory=list, description="All must be granted.")
    principal_header: str = Field("x-principal", description="Upstream header for the subject.")
    claim_headers: dict[str, str] = Field(default_factory=dict,
                                          description="Claim name -> upstream header name.")
    context_claims: list[str] = Field(default_factory=list,
                                      description="Claims copied into context as claim.<name>.")
    hide_token: bool = Field(False, description="Remove authorization before the upstream.")

    @field_validator("introspection_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value

    @field_validator("principal_header")
    @classmethod
    def _header(cls, value: str) -> str:
        if not _HEADER.fullmatch(value):
            raise ValueError(f"{value!r} is not a valid header name")
        return value.lower()

    @field_validator("claim_headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        for claim, header in value.items():
            if not _HEADER.fullmatch(header):
                raise ValueError(f"claim {claim!r}: {header!r} is not a valid header name")
        return {claim: header.lower() for claim, header in value.items()}


def _text(value: Any) -> str:
    if isinstance(value, list):
        return " ".join(str(item) for item in value)
    return "" if value is None else str(value)


def _deny(status: int, code: str, message: str) -> Response:
    error = "invalid_token" if status == 401 else "insufficient_scope"
    challenge = f'Bearer error="{error}"'
    return Response(status, json={"code": code, "message": message},
                    headers={"www-authenticate": challenge})


class Authorizer(Plugin[AuthorizerConfig]):
    name = "authorizer"
    version = "1.0.0"
    cache_key = CacheKey(headers=["authorization"])

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    async def startup(self) -> None:
        self._session = aiohttp.ClientSession()

    async def shutdown(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def introspect(self, token: str, config: AuthorizerConfig) -> dict[str, Any]:
        if self._session is None:
            await self.startup()
        assert self._session is not None
        auth = aiohttp.BasicAuth(config.client_id, config.client_secret) \
            if config.client_id else None
        try:
            async with self._session.post(
                config.introspection_url, data={"token": token, "token_type_hint": "access_token"},
                auth=auth, timeout=aiohttp.ClientTimeout(total=config.timeout_ms / 1000),
            ) as answer:  # fmt: skip
                if answer.status != 200:
                    raise IntrospectionFailed(f"introspection answered {answer.status}")
                claims = await answer.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise IntrospectionFailed(f"introspection failed: {type(exc).__name__}") from exc
        if not isinstance(claims, dict):
            raise IntrospectionFailed("introspection answer is not a JSON object")
        return claims

    async def on_request(self, request: Request, config: AuthorizerConfig) -> Response | None:
        scheme, _, token = (request.header("authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return _deny(401, "missing_token", MISSING_TOKEN)
        claims = await self.introspect(token.strip(), config)
        if claims.get("active") is not True:
            return _deny(401, "invalid_token", INACTIVE_TOKEN)
        granted = set(_text(claims.get("scope")).split())
        if not set(config.required_scopes) <= granted:
            return _deny(403, "insufficient_scope", MISSING_SCOPE)
        principal = _text(claims.get("sub") or claims.get("username"))
        request.set_header(config.principal_header, principal)
        request.set_context("principal", principal)
        for claim, header in config.claim_headers.items():
            if claim in claims:
                request.set_header(header, _text(claims[claim]))
        for claim in config.context_claims:
            if claim in claims:
                request.set_context(f"claim.{claim}", _text(claims[claim]))
        if config.hide_token:
            request.remove_header("authorization")
        return None


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="authorizer plugin service")
    parser.add_argument("--listen", default="127.0.0.1:50062", help="host:port to serve on")
    serve(Authorizer(), parser.parse_args().listen)

"""Config schema and cross-field rules of the ``jwt`` policy."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

from edgeway.edge.policies._auth import ANONYMOUS_FIELD, anonymous_names_a_consumer
from edgeway.edge.policies._schema import (
    array,
    boolean,
    enum,
    header_name,
    integer,
    policy_schema,
    string,
)

__all__ = ["ALGORITHMS", "ASYMMETRIC", "CHECKS", "JWKS_NEEDS_HTTPS", "REFERENCES", "SCHEMA"]

ASYMMETRIC = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"]
ALGORITHMS = ["HS256", "HS384", "HS512", *ASYMMETRIC]
_CLAIM = string("A claim name.", max_length=128)

SCHEMA: dict[str, Any] = policy_schema(
    "jwt",
    "Authenticate callers by a signed JSON Web Token (Authorization: Bearer by default). Keys"
    " come from `jwks_url` (fetched in the background, refetched on an unknown key id at most"
    " every `jwks_min_refetch_s`, kept when a fetch fails), or else from the consumers' jwt"
    " credentials, chosen by the token's `iss`. `alg: none` is never accepted, and a key only"
    " verifies the algorithm family it is for (no HS256 with an RSA key).",
    {
        "jwks_url": string("URL of the issuer's JSON Web Key Set; https (http only for loopback"
                           " addresses).", max_length=2048, pattern=r"^https?://",
                           pattern_message="must be an http(s) URL"),
        "issuer": string("Required value of the `iss` claim.", max_length=2048),
        "audience": array("Accepted `aud` values; the token must name one of them.",
                          string("An audience.", max_length=2048), max_items=32, default=[]),
        "algorithms": array("Accepted signature algorithms.", enum("An algorithm.", ALGORITHMS),
                            max_items=len(ALGORITHMS), min_items=1, default=ALGORITHMS),
        "required_claims": array("Claims every token must carry.", _CLAIM, max_items=32,
                                 default=["exp"]),
        "clock_skew_s": integer("Leeway for exp, nbf and iat, in seconds.", minimum=0,
                                maximum=600, default=30),
        "scopes": array("Scopes the token must all grant (403 otherwise).",
                        string("A scope.", max_length=256), max_items=64, default=[]),
        "scope_claim": string("Claim holding the scopes: a space-separated string or a list.",
                              max_length=128, default="scope"),
        "consumer_claim": string("Claim naming a configured consumer that becomes the caller"
                                 " (with `jwks_url`); a token naming no known consumer is"
                                 " refused. Unset: the caller stays anonymous but"
                                 " authenticated.", max_length=128),
        "header_names": array("Headers that may carry the token (`Bearer ` prefix optional).",
                              header_name("A header name."), max_items=8,
                              default=["authorization"]),
        "query_params": array("Query parameters that may carry the token.",
                              string("A parameter name.", max_length=128), max_items=8,
                              default=[]),
        "cookie_names": array("Cookies that may carry the token.",
                              string("A cookie name.", max_length=128), max_items=8,
                              default=[]),
        "hide_credentials": boolean("Remove the token header from the request sent upstream.",
                                    default=False),
        "jwks_refresh_s": integer("How often the JWKS is refreshed in the background.",
                                  minimum=10, maximum=86400, default=300),
        "jwks_min_refetch_s": integer("Least time between two fetches caused by unknown key"
                                      " ids.", minimum=1, maximum=3600, default=30),
        "jwks_timeout_ms": integer("Deadline of one JWKS fetch.", minimum=100, maximum=30000,
                                   default=3000),
        "anonymous": ANONYMOUS_FIELD,
    },
)  # fmt: skip

JWKS_NEEDS_HTTPS = "must use https (http is allowed for loopback addresses only)"
CONSUMER_CLAIM_NEEDS_JWKS = (
    "consumer_claim applies with jwks_url (without it the issuer's credential names the consumer)"
)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def jwks_url_is_safe(config: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """Keys fetched over plain http could be swapped by anyone on the path."""
    url = config.get("jwks_url")
    if url is None:
        return
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        yield "jwks_url", "is not a valid URL"
        return
    if not host:
        yield "jwks_url", "needs a host"
    elif parts.scheme == "http" and not _loopback(host):
        yield "jwks_url", JWKS_NEEDS_HTTPS


def consumer_claim_needs_jwks(config: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """Without a JWKS the consumer is the owner of the issuer's credential."""
    if "consumer_claim" in config and "jwks_url" not in config:
        yield "consumer_claim", CONSUMER_CLAIM_NEEDS_JWKS


def somewhere_to_look(config: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """A token must be allowed in some header, query parameter or cookie."""
    empty_headers = config.get("header_names", ["authorization"]) == []
    if empty_headers and not config.get("query_params") and not config.get("cookie_names"):
        yield "header_names", "the token must be looked for somewhere"


CHECKS = (jwks_url_is_safe, consumer_claim_needs_jwks, somewhere_to_look)

REFERENCES = (anonymous_names_a_consumer,)

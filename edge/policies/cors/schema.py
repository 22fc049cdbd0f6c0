"""Config schema and cross-field rules of the ``cors`` policy."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from edgeway.edge.policies._schema import (
    END,
    array,
    boolean,
    enum,
    header_name,
    integer,
    policy_schema,
    string,
)

__all__ = ["CHECKS", "CREDENTIALS_WITH_ANY_ORIGIN", "METHODS", "SCHEMA"]

METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
_ORIGIN = r"^(\*|https?://(\*\.)?[A-Za-z0-9.-]+(:[0-9]{1,5})?)" + END

SCHEMA: dict[str, Any] = policy_schema(
    "cors",
    "Cross-origin resource sharing. Preflight requests (OPTIONS with Origin and"
    " Access-Control-Request-Method) are answered at the edge with 204; other requests from an"
    " allowed origin get the Access-Control-* headers on their response, whoever answers it.",
    {
        "origins": array(
            "Allowed origins: exact (`https://app.example.com`), a wildcard subdomain"
            " (`https://*.example.com`), or `*` (any origin).",
            string("An origin.", max_length=256, pattern=_ORIGIN,
                   pattern_message="must be *, or scheme://host[:port] with an optional *."
                   " subdomain wildcard"),
            max_items=256, default=["*"]),
        "origin_patterns": array(
            "Allowed origins as regular expressions, matched against the whole Origin.",
            string("A regular expression.", max_length=512), max_items=64, default=[]),
        "methods": array("Methods allowed cross-origin.", enum("A method.", METHODS),
                         max_items=7, min_items=1,
                         default=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]),
        "headers": array("Request headers allowed cross-origin; empty allows the headers the"
                         " preflight asks for.", header_name("A header name."),
                         max_items=128, default=[]),
        "expose_headers": array("Response headers the browser may read.",
                                header_name("A header name."), max_items=128, default=[]),
        "credentials": boolean("Allow cookies and credentials"
                               " (Access-Control-Allow-Credentials).", default=False),
        "max_age": integer("How long a browser may cache a preflight answer, in seconds.",
                           minimum=0, maximum=86400, default=600),
        "preflight_continue": boolean("Pass preflight requests to the upstream instead of"
                                      " answering them.", default=False),
    },
)  # fmt: skip

CREDENTIALS_WITH_ANY_ORIGIN = (
    "credentials cannot be allowed for every origin (*): list the origins that may send them"
)


def patterns_compile(config: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """Every origin pattern is a valid regular expression."""
    for index, pattern in enumerate(config.get("origin_patterns", ())):
        try:
            re.compile(pattern)
        except re.error as exc:
            yield f"origin_patterns[{index}]", f"is not a valid regular expression: {exc}"


def no_credentials_for_any_origin(config: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """Browsers refuse credentials with ``*``; reflecting every origin instead would hand any
    site the user's cookies, so the combination is refused."""
    if config.get("credentials") and "*" in config.get("origins", ["*"]):
        yield "credentials", CREDENTIALS_WITH_ANY_ORIGIN


CHECKS = (patterns_compile, no_credentials_for_any_origin)

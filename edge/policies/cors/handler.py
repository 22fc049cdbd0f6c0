"""Handler of the ``cors`` policy: origin decisions compiled once, headers set per request.

Exact origins are a set; wildcard subdomains and patterns are one compiled regex. A preflight
for an allowed origin is answered 204 with the prebuilt headers (requested headers echoed when
``headers`` is empty); a preflight from another origin gets 204 without CORS headers, which
the browser reads as a refusal. Responses vary by ``Origin``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar

from edgeway.edge.policies.base import Exchange, LocalResponse, Outcome, Phase, PolicyHandler

__all__ = ["CorsHandler"]


def _origin_regex(origins: list[str], patterns: list[str]) -> re.Pattern[str] | None:
    parts = [f"(?:{p})" for p in patterns]
    for origin in origins:
        if "*." in origin:
            scheme, _, rest = origin.partition("://")
            parts.append(re.escape(scheme) + "://[A-Za-z0-9-]+(?:\\.[A-Za-z0-9-]+)*\\."
                         + re.escape(rest[2:]))  # fmt: skip
    return re.compile("|".join(parts)) if parts else None


class CorsHandler(PolicyHandler):
    """Answers preflights and decorates responses (see the module docstring)."""

    NAME: ClassVar[str] = "cors"
    VERSION: ClassVar[str] = "1.0.0"
    PHASE: ClassVar[Phase] = Phase.CORS
    PRIORITY: ClassVar[int] = 2000

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)
        origins = list(config["origins"])
        self.any_origin = "*" in origins
        self.exact = frozenset(o.lower() for o in origins if "*" not in o)
        wildcards = [o for o in origins if "*." in o]
        self.regex = _origin_regex(wildcards, list(config["origin_patterns"]))
        self.credentials = bool(config["credentials"])
        self.preflight_continue = bool(config["preflight_continue"])
        self.methods = ",".join(config["methods"])
        self.allow_headers = ",".join(h.lower() for h in config["headers"])
        self.expose = ",".join(h.lower() for h in config["expose_headers"])
        self.max_age = str(config["max_age"])
        self.refused = LocalResponse(204, (("vary", "Origin"),), b"")
        self._preflight: dict[str, LocalResponse] = {}

    def allowed(self, origin: str) -> bool:
        if self.any_origin or origin.lower() in self.exact:
            return True
        return self.regex is not None and self.regex.fullmatch(origin) is not None

    def _allow_origin(self, origin: str) -> str:
        return "*" if self.any_origin and not self.credentials else origin

    def preflight(self, origin: str, requested_headers: str) -> LocalResponse:
        headers = self.allow_headers or requested_headers
        key = origin + "\n" + headers
        found = self._preflight.get(key)
        if found is None:
            pairs = [
                ("access-control-allow-origin", self._allow_origin(origin)),
                ("access-control-allow-methods", self.methods),
                ("access-control-max-age", self.max_age),
                ("vary", "Origin"),
            ]
            if headers:
                pairs.append(("access-control-allow-headers", headers))
            if self.credentials:
                pairs.append(("access-control-allow-credentials", "true"))
            found = LocalResponse(204, tuple(pairs), b"")
            if len(self._preflight) < 1024:
                self._preflight[key] = found
        return found

    def on_request(self, exchange: Exchange) -> Outcome:
        headers = exchange.headers
        origin = headers.get("origin")
        if origin is None:
            return None
        if exchange.method == "OPTIONS" and "access-control-request-method" in headers:
            if self.preflight_continue:
                return None
            if not self.allowed(origin):
                return self.refused
            requested = headers.get("access-control-request-headers", "")
            return self.preflight(origin, requested)
        exchange.add_response_header("vary", "Origin")
        if self.allowed(origin):
            exchange.set_response_header("access-control-allow-origin", self._allow_origin(origin))
            if self.credentials:
                exchange.set_response_header("access-control-allow-credentials", "true")
            if self.expose:
                exchange.set_response_header("access-control-expose-headers", self.expose)
        return None

"""Handler of the ``redirect`` policy: a prebuilt answer when the location is constant."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from edgeway.edge.policies._templates import compile_template
from edgeway.edge.policies.base import Exchange, LocalResponse, Outcome, Phase, PolicyHandler

__all__ = ["RedirectHandler"]


class RedirectHandler(PolicyHandler):
    """Redirects every request (after authentication; before validation and the cache)."""

    NAME: ClassVar[str] = "redirect"
    VERSION: ClassVar[str] = "1.0.0"
    PHASE: ClassVar[Phase] = Phase.VALIDATION
    PRIORITY: ClassVar[int] = 990

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)
        self.status = int(config["status"])
        self.location = compile_template(config["location"])
        self.keep_query = bool(config["keep_query"])
        self.fixed = LocalResponse(self.status, (("location", self.location.source),), b"")

    def on_request(self, exchange: Exchange) -> Outcome:
        query = exchange.query if self.keep_query else ""
        if self.location.constant and not query:
            return self.fixed
        location = self.location.render(exchange)
        if query:
            location += ("&" if "?" in location else "?") + query
        return LocalResponse(self.status, (("location", location),), b"")

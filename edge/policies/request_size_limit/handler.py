"""Handler of the ``request-size-limit`` policy: check ``Content-Length``, declare the limit.

A declared length is judged here; a chunked body is judged by the proxy while it streams,
through :attr:`PolicyHandler.body_limit`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from edgeway.edge.policies._responses import error_response
from edgeway.edge.policies.base import Exchange, Outcome, Phase, PolicyHandler

__all__ = ["RequestSizeLimitHandler"]


class RequestSizeLimitHandler(PolicyHandler):
    """Refuses bodies over the limit (see the module docstring)."""

    NAME: ClassVar[str] = "request-size-limit"
    VERSION: ClassVar[str] = "1.0.0"
    PHASE: ClassVar[Phase] = Phase.IP_RESTRICTION
    PRIORITY: ClassVar[int] = 500

    length_required = error_response(411, "length_required",
                                      "this route needs a Content-Length")  # fmt: skip

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)
        self.max_bytes = int(config["max_bytes"])
        self.body_limit = self.max_bytes
        self.require_length = bool(config["require_content_length"])
        self.too_large = error_response(
            413, "payload_too_large", f"the request body is larger than {self.max_bytes} bytes"
        )

    def on_request(self, exchange: Exchange) -> Outcome:
        length = exchange.header("content-length")
        if length is not None:
            try:
                size = int(length)
            except ValueError:
                return None  # the proxy refuses a malformed length itself
            return self.too_large if size > self.max_bytes else None
        if self.require_length and exchange.header("transfer-encoding") is not None:
            return self.length_required
        return None

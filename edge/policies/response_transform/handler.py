"""Handler of the ``response-transform`` policy: compiled operations on the response."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from edgeway.edge.policies._transform import (
    apply_headers,
    apply_json,
    compile_operations,
)
from edgeway.edge.policies.base import Exchange, Phase, PolicyHandler, Response

__all__ = ["ResponseTransformHandler"]


class ResponseTransformHandler(PolicyHandler):
    """Rewrites the response (see the schema's description)."""

    NAME: ClassVar[str] = "response-transform"
    VERSION: ClassVar[str] = "1.0.0"
    PHASE: ClassVar[Phase] = Phase.RESPONSE_TRANSFORM
    PRIORITY: ClassVar[int] = 800
    RESPONSE_PHASE: ClassVar[Phase | None] = Phase.RESPONSE_TRANSFORM

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)
        self.headers = compile_operations(config.get("headers"), lower=True)
        self.body = compile_operations(config.get("body"))
        self.statuses = frozenset(config["statuses"])
        if self.body:
            self.buffer_response_body = int(config["max_body_bytes"])

    def on_response(self, exchange: Exchange, response: Response) -> None:
        if self.statuses and response.status not in self.statuses:
            return
        if self.headers:
            apply_headers(self.headers, response, exchange)
        body = response.body
        if self.body and body and "json" in response.headers.get("content-type", ""):
            changed = apply_json(self.body, body, exchange)
            if changed is not None:
                response.set_body(changed)

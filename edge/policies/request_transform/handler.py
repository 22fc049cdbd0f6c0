"""Handler of the ``request-transform`` policy: compiled operations applied per request."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from edgeway.edge.policies._transform import (
    apply_headers,
    apply_json,
    compile_operations,
    render,
)
from edgeway.edge.policies.base import Exchange, Outcome, Phase, PolicyHandler

__all__ = ["RequestTransformHandler"]


class RequestTransformHandler(PolicyHandler):
    """Rewrites the upstream request (see the schema's description)."""

    NAME: ClassVar[str] = "request-transform"
    VERSION: ClassVar[str] = "1.0.0"
    PHASE: ClassVar[Phase] = Phase.REQUEST_TRANSFORM
    PRIORITY: ClassVar[int] = 800

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)
        self.headers = compile_operations(config.get("headers"), lower=True)
        self.query = compile_operations(config.get("query"))
        self.body = compile_operations(config.get("body"))
        if self.body:
            self.buffer_request_body = int(config["max_body_bytes"])

    def on_request(self, exchange: Exchange) -> Outcome:
        if self.headers:
            apply_headers(self.headers, exchange, exchange)
        ops = self.query
        if ops:
            for name in ops.remove:
                exchange.remove_query_param(name)
            for old, new in ops.rename:
                values = exchange.query_params.get(old)
                if values is not None:
                    exchange.remove_query_param(old)
                    exchange.set_query_param(new, values)
            for name, template in ops.replace:
                if name in exchange.query_params:
                    exchange.set_query_param(name, (str(render(template, exchange)),))
            for name, template in ops.add:
                if name not in exchange.query_params:
                    exchange.set_query_param(name, (str(render(template, exchange)),))
        if self.body and exchange.body:
            content_type = exchange.headers.get("content-type", "")
            if "json" in content_type:
                changed = apply_json(self.body, exchange.body, exchange)
                if changed is not None:
                    exchange.set_body(changed)
        return None

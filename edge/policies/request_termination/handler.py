"""Handler of the ``request-termination`` policy: answer with a fixed, pre-rendered response.

It runs in the validation phase: after authentication (so it can be scoped to consumers) and
rate limiting (terminated calls still count, as in Kong), before cache lookup (a terminated
route is never served from cache) and before any transformation or plugin.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar

from edgeway.edge.policies.base import LocalResponse, Phase, PolicyHandler, Request

__all__ = ["RequestTerminationHandler", "render"]

DEFAULT_BODY_TYPE = "text/plain; charset=utf-8"
JSON_TYPE = "application/json"
_NO_BODY_STATUSES = frozenset({204, 304})


def render(config: Mapping[str, Any]) -> LocalResponse:
    """The response a (valid, defaults filled in) config describes.

    Statuses that cannot carry a body (1xx, 204, 304) are sent without one.
    """
    status = int(config["status_code"])
    if status < 200 or status in _NO_BODY_STATUSES:
        return LocalResponse(status=status, headers=(), body=b"")
    if "body" in config:
        content_type = str(config.get("content_type") or DEFAULT_BODY_TYPE)
        body = str(config["body"]).encode("utf-8")
    else:
        content_type = JSON_TYPE
        body = json.dumps({"message": config["message"]}, ensure_ascii=False).encode("utf-8")
    return LocalResponse(status=status, headers=(("content-type", content_type),), body=body)


class RequestTerminationHandler(PolicyHandler):
    """Answers every request with the configured response."""

    NAME: ClassVar[str] = "request-termination"
    VERSION: ClassVar[str] = "1.0.0"
    PHASE: ClassVar[Phase] = Phase.VALIDATION
    PRIORITY: ClassVar[int] = 1000

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)
        self.response = render(config)

    def on_request(self, request: Request) -> LocalResponse:
        return self.response

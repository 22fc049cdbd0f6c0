"""Handler of the ``correlation-id`` policy.

It runs in the first phase (``ip-restriction``) with the highest priority there, so the id is
on the response of any policy's refusal too.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, ClassVar

from edgeway.edge.policies.base import Exchange, Outcome, Phase, PolicyHandler

__all__ = ["CorrelationIdHandler"]


class CorrelationIdHandler(PolicyHandler):
    """Keeps or sets the correlation id (see the module docstring)."""

    NAME: ClassVar[str] = "correlation-id"
    VERSION: ClassVar[str] = "1.0.0"
    PHASE: ClassVar[Phase] = Phase.IP_RESTRICTION
    PRIORITY: ClassVar[int] = 100_000

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)
        self.header: str = config["header"].lower()
        self.use_uuid = config["generator"] == "uuid"
        self.echo = bool(config["echo_downstream"])

    def on_request(self, exchange: Exchange) -> Outcome:
        value = exchange.header(self.header)
        if not value:
            value = str(uuid.uuid4()) if self.use_uuid else exchange.request_id
            exchange.set_header(self.header, value)
        if self.echo:
            exchange.set_response_header(self.header, value)
        return None

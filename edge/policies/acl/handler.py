"""Handler of the ``acl`` policy: a set intersection per request."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from edgeway.edge.policies._responses import error_response
from edgeway.edge.policies.base import Exchange, Outcome, Phase, PolicyHandler

__all__ = ["AclHandler"]


class AclHandler(PolicyHandler):
    """Admits consumers by group (see the schema's description)."""

    NAME: ClassVar[str] = "acl"
    VERSION: ClassVar[str] = "1.0.0"
    PHASE: ClassVar[Phase] = Phase.AUTHORIZATION
    PRIORITY: ClassVar[int] = 950

    anonymous = error_response(401, "unauthorized", "this route needs an authenticated consumer")
    forbidden = error_response(403, "forbidden", "the consumer may not call this route")

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)
        self.allow = frozenset(config.get("allow", ()))
        self.deny = frozenset(config.get("deny", ()))

    def on_request(self, exchange: Exchange) -> Outcome:
        consumer = exchange.consumer
        if consumer is None:
            return self.anonymous
        if self.allow:
            return None if self.allow & consumer.groups else self.forbidden
        return self.forbidden if self.deny & consumer.groups else None

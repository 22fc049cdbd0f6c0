"""``request-size-limit``: refuse request bodies larger than a limit (413)."""

from edgeway.edge.policies.request_size_limit.handler import RequestSizeLimitHandler
from edgeway.edge.policies.request_size_limit.schema import CHECKS, SCHEMA

HANDLER = RequestSizeLimitHandler

__all__ = ["CHECKS", "HANDLER", "SCHEMA", "RequestSizeLimitHandler"]

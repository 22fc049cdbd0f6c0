"""``response-transform``: change the upstream response's headers and JSON body fields."""

from edgeway.edge.policies.response_transform.handler import ResponseTransformHandler
from edgeway.edge.policies.response_transform.schema import CHECKS, SCHEMA

HANDLER = ResponseTransformHandler

__all__ = ["CHECKS", "HANDLER", "SCHEMA", "ResponseTransformHandler"]

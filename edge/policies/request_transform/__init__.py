"""``request-transform``: change headers, query parameters and JSON body fields upstream."""

from edgeway.edge.policies.request_transform.handler import RequestTransformHandler
from edgeway.edge.policies.request_transform.schema import CHECKS, SCHEMA

HANDLER = RequestTransformHandler

__all__ = ["CHECKS", "HANDLER", "SCHEMA", "RequestTransformHandler"]

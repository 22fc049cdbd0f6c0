"""``rate-limit``: token buckets per caller, in this edge or fleet-wide through Redis."""

from edgeway.edge.policies.rate_limit.handler import RateLimitHandler
from edgeway.edge.policies.rate_limit.schema import CHECKS, SCHEMA

HANDLER = RateLimitHandler

__all__ = ["CHECKS", "HANDLER", "SCHEMA", "RateLimitHandler"]

"""``cache``: a response cache at the edge, in memory or shared through Redis."""

from edgeway.edge.policies.cache.handler import CacheHandler
from edgeway.edge.policies.cache.schema import CHECKS, SCHEMA

HANDLER = CacheHandler

__all__ = ["CHECKS", "HANDLER", "SCHEMA", "CacheHandler"]

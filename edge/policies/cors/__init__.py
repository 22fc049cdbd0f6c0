"""``cors``: cross-origin resource sharing, preflights answered at the edge."""

from edgeway.edge.policies.cors.handler import CorsHandler
from edgeway.edge.policies.cors.schema import CHECKS, SCHEMA

HANDLER = CorsHandler

__all__ = ["CHECKS", "HANDLER", "SCHEMA", "CorsHandler"]

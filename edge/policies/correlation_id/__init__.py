"""``correlation-id``: make sure every request carries an id, upstream and back."""

from edgeway.edge.policies.correlation_id.handler import CorrelationIdHandler
from edgeway.edge.policies.correlation_id.schema import CHECKS, SCHEMA

HANDLER = CorrelationIdHandler

__all__ = ["CHECKS", "HANDLER", "SCHEMA", "CorrelationIdHandler"]

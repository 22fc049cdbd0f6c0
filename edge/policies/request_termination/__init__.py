"""``request-termination``: answer requests with a fixed response instead of proxying them."""

from edgeway.edge.policies.request_termination.handler import RequestTerminationHandler
from edgeway.edge.policies.request_termination.schema import CHECKS, SCHEMA

HANDLER = RequestTerminationHandler

__all__ = ["CHECKS", "HANDLER", "SCHEMA", "RequestTerminationHandler"]

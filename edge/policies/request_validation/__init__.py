"""``request-validation``: JSON Schema for the body, typed query and header parameters."""

from edgeway.edge.policies.request_validation.handler import RequestValidationHandler
from edgeway.edge.policies.request_validation.schema import CHECKS, SCHEMA

HANDLER = RequestValidationHandler

__all__ = ["CHECKS", "HANDLER", "SCHEMA", "RequestValidationHandler"]

"""``redirect``: answer with a redirect to a (templated) location."""

from edgeway.edge.policies.redirect.handler import RedirectHandler
from edgeway.edge.policies.redirect.schema import CHECKS, SCHEMA

HANDLER = RedirectHandler

__all__ = ["CHECKS", "HANDLER", "SCHEMA", "RedirectHandler"]

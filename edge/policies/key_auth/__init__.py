"""``key-auth``: API keys in a header or query parameter, checked against consumers' keys."""

from edgeway.edge.policies.key_auth.handler import KeyAuthHandler
from edgeway.edge.policies.key_auth.schema import CHECKS, REFERENCES, SCHEMA

HANDLER = KeyAuthHandler

__all__ = ["CHECKS", "HANDLER", "REFERENCES", "SCHEMA", "KeyAuthHandler"]

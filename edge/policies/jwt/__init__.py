"""``jwt``: bearer JSON Web Tokens verified with consumers' keys or an issuer's JWKS."""

from edgeway.edge.policies.jwt.handler import JwtHandler
from edgeway.edge.policies.jwt.schema import CHECKS, REFERENCES, SCHEMA

HANDLER = JwtHandler

__all__ = ["CHECKS", "HANDLER", "REFERENCES", "SCHEMA", "JwtHandler"]

"""``basic-auth``: user name and password (stored as PBKDF2 hashes) in ``Authorization``."""

from edgeway.edge.policies.basic_auth.handler import BasicAuthHandler
from edgeway.edge.policies.basic_auth.schema import CHECKS, REFERENCES, SCHEMA

HANDLER = BasicAuthHandler

__all__ = ["CHECKS", "HANDLER", "REFERENCES", "SCHEMA", "BasicAuthHandler"]

"""``acl``: allow or deny authenticated consumers by their groups."""

from edgeway.edge.policies.acl.handler import AclHandler
from edgeway.edge.policies.acl.schema import CHECKS, SCHEMA

HANDLER = AclHandler

__all__ = ["CHECKS", "HANDLER", "SCHEMA", "AclHandler"]

"""``ip-restriction``: allow or deny client addresses by CIDR, behind trusted proxies too."""

from edgeway.edge.policies.ip_restriction.handler import IpRestrictionHandler
from edgeway.edge.policies.ip_restriction.schema import CHECKS, SCHEMA

HANDLER = IpRestrictionHandler

__all__ = ["CHECKS", "HANDLER", "SCHEMA", "IpRestrictionHandler"]

"""Config schema and cross-field rules of the ``ip-restriction`` policy."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping
from typing import Any

from edgeway.edge.policies._schema import array, integer, policy_schema, string

__all__ = ["ALLOW_OR_DENY", "CHECKS", "SCHEMA", "network"]

_CIDR = string("An address or CIDR block, IPv4 or IPv6 (10.0.0.0/8, 2001:db8::/32).",
               max_length=64)  # fmt: skip

SCHEMA: dict[str, Any] = policy_schema(
    "ip-restriction",
    "Allow or deny clients by address. The client is the TCP peer, unless the peer is a"
    " trusted proxy: then X-Forwarded-For is read from the right, skipping trusted proxies,"
    " and the first other address is the client (later policies count by it too).",
    {
        "allow": array("Only these addresses may call.", _CIDR, max_items=1024, min_items=1),
        "deny": array("These addresses may not call (checked before `allow`).", _CIDR,
                      max_items=1024, min_items=1),
        "trusted_proxies": array("Proxies (load balancers) whose X-Forwarded-For is believed.",
                                 _CIDR, max_items=256, default=[]),
        "status": integer("Status of the refusal.", minimum=400, maximum=499, default=403),
        "message": string("Message of the refusal.", max_length=1024,
                          default="your address may not call this route"),
    },
)  # fmt: skip

ALLOW_OR_DENY = "set allow, deny, or both"


def network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """``text`` as a network (a bare address is a /32 or /128); ValueError when invalid."""
    return ipaddress.ip_network(text.strip(), strict=False)


def addresses_are_valid(config: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """Every entry of every list is an address or a CIDR block."""
    for field in ("allow", "deny", "trusted_proxies"):
        for index, text in enumerate(config.get(field, ())):
            try:
                network(text)
            except ValueError:
                yield f"{field}[{index}]", f"{text!r} is not an IP address or CIDR block"


def allow_or_deny(config: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """A restriction restricts something."""
    if "allow" not in config and "deny" not in config:
        yield "allow", ALLOW_OR_DENY


CHECKS = (addresses_are_valid, allow_or_deny)

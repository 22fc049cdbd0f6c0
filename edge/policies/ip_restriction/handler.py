"""Handler of the ``ip-restriction`` policy: resolve the client, then one cached decision.

Networks are parsed once per config version. Decisions are remembered per address in a small
table (cleared when full), so a returning client costs one dict lookup.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any, ClassVar

from edgeway.edge.policies._keys import CLIENT_IP
from edgeway.edge.policies._responses import error_response
from edgeway.edge.policies.base import Exchange, Outcome, Phase, PolicyHandler
from edgeway.edge.policies.ip_restriction.schema import network

__all__ = ["IpRestrictionHandler", "resolve_client"]

MAX_REMEMBERED = 65_536
_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _inside(address: str, networks: tuple[_Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # a dual-stack socket's view of an IPv4 client
    return any(ip in net for net in networks)


def resolve_client(peer: str, forwarded: tuple[str, ...], trusted: tuple[_Network, ...]) -> str:
    """The client address: ``peer``, or when ``peer`` is trusted, the right-most address of
    ``X-Forwarded-For`` (all its values, in order) that is not a trusted proxy."""
    if not trusted or not forwarded or not _inside(peer, trusted):
        return peer
    hops = [hop.strip() for value in forwarded for hop in value.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _inside(hop, trusted):
            return hop
    return hops[0] if hops else peer


class IpRestrictionHandler(PolicyHandler):
    """Refuses denied or not-allowed addresses (see the module docstring)."""

    NAME: ClassVar[str] = "ip-restriction"
    VERSION: ClassVar[str] = "1.0.0"
    PHASE: ClassVar[Phase] = Phase.IP_RESTRICTION
    PRIORITY: ClassVar[int] = 1000

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)
        self.allow = tuple(network(t) for t in config.get("allow", ()))
        self.deny = tuple(network(t) for t in config.get("deny", ()))
        self.trusted = tuple(network(t) for t in config["trusted_proxies"])
        self.refused = error_response(config["status"], "ip_forbidden", config["message"])
        self._decisions: dict[str, bool] = {}

    def allowed(self, address: str) -> bool:
        found = self._decisions.get(address)
        if found is None:
            found = not _inside(address, self.deny) and (
                not self.allow or _inside(address, self.allow)
            )
            if len(self._decisions) >= MAX_REMEMBERED:
                self._decisions.clear()
            self._decisions[address] = found
        return found

    def on_request(self, exchange: Exchange) -> Outcome:
        address = exchange.client_ip
        if self.trusted:
            forwarded = exchange.header_values("x-forwarded-for")
            address = resolve_client(address, forwarded, self.trusted)
            exchange.context[CLIENT_IP] = address
        return None if self.allowed(address) else self.refused

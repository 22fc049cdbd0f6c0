"""acl (groups of the authenticated consumer) and ip-restriction (CIDRs, trusted proxies)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from edgeway.edge.policies._keys import CLIENT_IP
from edgeway.edge.policies.acl.schema import ALLOW_OR_DENY
from edgeway.edge.policies.ip_restriction.handler import resolve_client
from edgeway.edge.policies.ip_restriction.schema import network
from tests.support.exchange import TestExchange, serve
from tests.unit.edge.policies.helpers import build, chain_of, config_problems, gateway

CONFIG = gateway(consumers=[
    {"name": "ops", "groups": ["admins", "staff"],
     "credentials": [{"type": "key-auth", "key": "ops-key"}]},
    {"name": "guest", "credentials": [{"type": "key-auth", "key": "guest-key"}]},
])  # fmt: skip


async def status(acl: dict[str, Any], key: str | None) -> int:
    chain = chain_of(build("key-auth", compiled_config=CONFIG), build("acl", acl))
    headers = {"apikey": key} if key else {}
    return (await serve(chain, TestExchange.of(headers))).status


async def test_allow_admits_members_and_refuses_others() -> None:
    assert await status({"allow": ["admins"]}, "ops-key") == 200
    assert await status({"allow": ["admins"]}, "guest-key") == 403


async def test_deny_refuses_members_only() -> None:
    assert await status({"deny": ["staff"]}, "ops-key") == 403
    assert await status({"deny": ["staff"]}, "guest-key") == 200


async def test_without_a_consumer_acl_answers_401() -> None:
    response = await serve(chain_of(build("acl", {"allow": ["admins"]})), TestExchange.of())
    assert response.status == 401
    assert json.loads(response.body or b"")["code"] == "unauthorized"


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({}, f"routes[0].policies[0].config.allow: {ALLOW_OR_DENY}"),
        ({"allow": ["a"], "deny": ["b"]}, f"routes[0].policies[0].config.allow: {ALLOW_OR_DENY}"),
        ({"allow": []}, "routes[0].policies[0].config.allow: must not be empty"),
        ({"allow": [""]}, "routes[0].policies[0].config.allow[0]: must not be empty"),
    ],
)  # fmt: skip
def test_acl_configs_are_checked(config: dict[str, Any], expected: str) -> None:
    assert config_problems("acl", config) == [expected]


def ip(config: dict[str, Any], peer: str, xff: str | None = None) -> TestExchange:
    headers = {"x-forwarded-for": xff} if xff else {}
    return TestExchange.of(headers, client_ip=peer)


async def test_deny_and_allow_lists_use_cidrs() -> None:
    chain = chain_of(build("ip-restriction", {"allow": ["10.0.0.0/8"], "deny": ["10.9.0.0/16"]}))
    assert (await serve(chain, ip({}, "10.1.2.3"))).status == 200
    assert (await serve(chain, ip({}, "10.9.1.1"))).status == 403
    refused = await serve(chain, ip({}, "192.0.2.1"))
    assert refused.status == 403
    assert json.loads(refused.body or b"")["code"] == "ip_forbidden"


async def test_ipv6_and_ipv4_mapped_addresses_match() -> None:
    chain = chain_of(build("ip-restriction", {"allow": ["2001:db8::/32", "192.0.2.0/24"]}))
    assert (await serve(chain, ip({}, "2001:db8::1"))).status == 200
    assert (await serve(chain, ip({}, "::ffff:192.0.2.7"))).status == 200
    assert (await serve(chain, ip({}, "2001:db9::1"))).status == 403


async def test_x_forwarded_for_counts_only_behind_a_trusted_proxy() -> None:
    config = {"deny": ["203.0.113.9"], "trusted_proxies": ["10.0.0.0/8"]}
    chain = chain_of(build("ip-restriction", config))
    behind_proxy = ip({}, "10.0.0.5", "203.0.113.9")
    assert (await serve(chain, behind_proxy)).status == 403
    assert behind_proxy.context[CLIENT_IP] == "203.0.113.9"
    spoofed = ip({}, "198.51.100.1", "1.2.3.4")  # an untrusted peer's header is ignored
    assert (await serve(chain, spoofed)).status == 200
    assert spoofed.context[CLIENT_IP] == "198.51.100.1"


def test_the_client_is_the_rightmost_untrusted_hop() -> None:
    trusted = (network("10.0.0.0/8"),)
    assert resolve_client("10.0.0.1", ("6.6.6.6, 203.0.113.5, 10.0.0.2",), trusted) == "203.0.113.5"
    assert resolve_client("10.0.0.1", ("10.0.0.3", "10.0.0.2"), trusted) == "10.0.0.3"
    assert resolve_client("10.0.0.1", (), trusted) == "10.0.0.1"


async def test_a_custom_status_and_message_are_used() -> None:
    config = {"deny": ["0.0.0.0/0"], "status": 451, "message": "not here"}
    response = await serve(chain_of(build("ip-restriction", config)), ip({}, "8.8.8.8"))
    assert response.status == 451
    assert json.loads(response.body or b"")["message"] == "not here"


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({}, "routes[0].policies[0].config.allow: set allow, deny, or both"),
        ({"allow": ["10.0.0.0/33"]},
         "routes[0].policies[0].config.allow[0]: '10.0.0.0/33' is not an IP address or CIDR block"),
        ({"deny": ["1.2.3.4"], "trusted_proxies": ["proxy"]},
         "routes[0].policies[0].config.trusted_proxies[0]: 'proxy' is not an IP address or CIDR"
         " block"),
        ({"deny": ["1.2.3.4"], "status": 500},
         "routes[0].policies[0].config.status: must be at most 499"),
    ],
)  # fmt: skip
def test_ip_configs_are_checked(config: dict[str, Any], expected: str) -> None:
    assert config_problems("ip-restriction", config) == [expected]

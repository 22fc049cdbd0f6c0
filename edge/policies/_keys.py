"""Who a request counts for: the caller keys of rate limits, and the real client address.

The client address is the TCP peer's, unless an ``ip-restriction`` policy resolved the client
behind trusted proxies (``X-Forwarded-For``) and recorded it under :data:`CLIENT_IP`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from edgeway.edge.memo import Memo
from edgeway.edge.policies.base import Request

__all__ = ["CLIENT_IP", "KeyGetter", "client_address", "key_getter"]

CLIENT_IP = "client.ip"
"""``Request.context`` key of the client address resolved through trusted proxies."""

KeyGetter = Callable[[Request], str]


def client_address(request: Request) -> str:
    """The real client address (see the module docstring)."""
    resolved = request.context.get(CLIENT_IP)
    return resolved if isinstance(resolved, str) else request.client_ip


_CONSUMER_KEYS: Final[Memo[str, str]] = Memo(10_000)
"""Consumer keys by consumer name: the same string each time (no new one per request, and
its hash is computed once for the limits' tables)."""


def _consumer(request: Request) -> str:
    consumer = request.consumer
    if consumer is None:
        return "ip:" + client_address(request)
    name = consumer.name
    found = _CONSUMER_KEYS.get(name)
    return found if found is not None else _CONSUMER_KEYS.put(name, "c:" + name)


def _ip(request: Request) -> str:
    return "ip:" + client_address(request)


def _route(request: Request) -> str:
    return "r:" + request.route_id


def key_getter(kind: str, name: str = "") -> KeyGetter:
    """The caller key for ``kind`` (consumer, ip, header, route, path-param); a missing
    consumer, header or parameter counts by client address."""
    if kind == "consumer":
        return _consumer
    if kind == "ip":
        return _ip
    if kind == "route":
        return _route
    lower = name.lower()
    if kind == "header":

        def header(request: Request) -> str:
            value = request.header(lower)
            return "h:" + value if value else _ip(request)

        return header
    if kind == "path-param":

        def param(request: Request) -> str:
            value = request.params.get(name)
            return "p:" + value if value else _ip(request)

        return param
    raise ValueError(f"unknown key kind {kind!r}")

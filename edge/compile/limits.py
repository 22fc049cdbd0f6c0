"""Compile request limits: the global ``limits`` of a config and a route's body limit."""

from __future__ import annotations

from edgeway.common.errors import join_path
from edgeway.edge.compile import rules
from edgeway.edge.compile.model import RequestLimits
from edgeway.edge.compile.rules import Errors
from edgeway.v1 import config_pb2

__all__ = ["compile_limits", "route_body_limit"]

_GLOBAL_ONLY = ("max_header_bytes", "max_headers", "max_url_bytes")


def compile_limits(message: config_pb2.Limits, path: str, errors: Errors) -> RequestLimits:
    """The config's limits, defaults filled in; the URL limit must stay below the header
    limit (the request line counts towards both): a default one is lowered to fit."""
    header_bytes = rules.MAX_HEADER_BYTES.resolve(
        message.max_header_bytes, join_path(path, "max_header_bytes"), errors
    )
    url_bytes = rules.MAX_URL_BYTES.resolve(
        message.max_url_bytes, join_path(path, "max_url_bytes"), errors
    )
    if not message.max_url_bytes:
        url_bytes = min(url_bytes, header_bytes - 1)
    elif url_bytes >= header_bytes:
        errors.add(join_path(path, "max_url_bytes"),
                   f"must be less than max_header_bytes ({header_bytes})")
    return RequestLimits(
        max_body_bytes=rules.MAX_BODY_BYTES.resolve(
            message.max_body_bytes, join_path(path, "max_body_bytes"), errors
        ),
        max_header_bytes=header_bytes,
        max_headers=rules.MAX_HEADERS.resolve(
            message.max_headers, join_path(path, "max_headers"), errors
        ),
        max_url_bytes=url_bytes,
    )


def route_body_limit(message: config_pb2.Limits, path: str, default: int,
                     errors: Errors) -> int:
    """A route's body limit (``default``: the global one); the other limits are global."""
    for name in _GLOBAL_ONLY:
        if getattr(message, name):
            errors.add(join_path(path, name), "applies before routing: set it in the "
                       "top-level limits, not on a route")
    if not message.max_body_bytes:
        return default
    return rules.MAX_BODY_BYTES.resolve(
        message.max_body_bytes, join_path(path, "max_body_bytes"), errors
    )

"""The errors the edge answers itself: a class tree with an HTTP status and a stable code.

Every error response has the JSON body ``{"code": ..., "message": ..., "request_id": ...}``:
``code`` is stable and machine-readable (the class's ``code``), ``message`` says what happened
in words. Raising is not required: the proxy passes instances around and renders them with
:func:`edgeway.edge.proxy.local.render_error`.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "BadRequest",
    "CircuitOpen",
    "EdgeError",
    "ExpectationFailed",
    "HeadersTooLarge",
    "NoConfig",
    "NoHealthyTarget",
    "PayloadTooLarge",
    "PluginUnavailable",
    "RequestTimeout",
    "RouteNotFound",
    "UpstreamBadResponse",
    "UpstreamError",
    "UpstreamReset",
    "UpstreamTimeout",
    "UpstreamUnavailable",
    "UriTooLong",
]


class EdgeError(Exception):
    """An error answered by the edge: ``status``, ``code`` and a ``message``."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"
    default_message: ClassVar[str] = "the edge failed to handle the request"
    closes: ClassVar[bool] = False
    """Whether the client connection is closed after the answer (the stream is unusable)."""

    def __init__(self, message: str = "") -> None:
        self.message = message or self.default_message
        super().__init__(self.message)


class BadRequest(EdgeError):
    status, code, closes = 400, "bad_request", True
    default_message = "the request is not valid HTTP/1.1"


class RequestTimeout(EdgeError):
    status, code, closes = 408, "request_timeout", True
    default_message = "the request head did not arrive in time"


class ExpectationFailed(EdgeError):
    status, code, closes = 417, "expectation_failed", True
    default_message = "only 'Expect: 100-continue' is supported"


class HeadersTooLarge(EdgeError):
    status, code, closes = 431, "headers_too_large", True
    default_message = "the request line and headers are too large"


class PayloadTooLarge(EdgeError):
    status, code, closes = 413, "payload_too_large", True
    default_message = "the request body is larger than this route accepts"


class UriTooLong(EdgeError):
    status, code, closes = 414, "uri_too_long", True
    default_message = "the request target is too long"


class RouteNotFound(EdgeError):
    status, code = 404, "route_not_found"
    default_message = "no route matches the request"


class NoConfig(EdgeError):
    status, code = 503, "no_config"
    default_message = "the edge has no config loaded yet"


class PluginUnavailable(EdgeError):
    status, code = 503, "plugin_unavailable"
    default_message = "a plugin of this route is not available"


class NoHealthyTarget(EdgeError):
    status, code = 503, "no_healthy_upstream"
    default_message = "no target of the upstream is healthy"


class CircuitOpen(EdgeError):
    status, code = 503, "circuit_open"
    default_message = "the upstream's circuit breaker is open"


class UpstreamError(EdgeError):
    """The upstream failed: 502 unless a subclass says otherwise."""

    status, code = 502, "bad_gateway"
    default_message = "the upstream failed"


class UpstreamUnavailable(UpstreamError):
    code = "upstream_unavailable"
    default_message = "could not connect to the upstream"


class UpstreamReset(UpstreamError):
    code = "upstream_reset"
    default_message = "the upstream closed the connection before answering"


class UpstreamBadResponse(UpstreamError):
    code = "upstream_bad_response"
    default_message = "the upstream sent an invalid HTTP response"


class UpstreamTimeout(EdgeError):
    status, code = 504, "upstream_timeout"
    default_message = "the upstream did not answer in time"

"""The Edgeway plugin SDK: write a plugin as your own gRPC service, the edge calls it.

A plugin subclasses :class:`Plugin` with a typed config (a pydantic model or a dataclass),
implements the hooks it needs (``on_request``, ``on_response``, ``on_log``) and runs with
:func:`serve`. :mod:`edgeway.sdk.testing` calls the hooks in-process for unit tests. The SDK
depends only on the wire contract (``edgeway.v1``), grpc, pydantic, structlog and the
OpenTelemetry API; never on the gateway itself. See ``docs/plugins.md``.
"""

from edgeway.sdk._config import ConfigRejected
from edgeway.sdk._plugin import CacheKey, Plugin
from edgeway.sdk._response import Response
from edgeway.sdk._server import serve, serve_async
from edgeway.sdk._views import Consumer, LogEntry, Request, ResponseView

__all__ = [
    "CacheKey",
    "ConfigRejected",
    "Consumer",
    "LogEntry",
    "Plugin",
    "Request",
    "Response",
    "ResponseView",
    "serve",
    "serve_async",
]

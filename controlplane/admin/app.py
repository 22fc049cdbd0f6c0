"""The admin API application: routes, JSON errors, bearer-token auth and tracing.

``build_admin_app(ops, token=...)`` returns an aiohttp application serving ``/v1/...`` (see
:mod:`.handlers`), ``/v1/openapi.json``, ``/healthz`` and ``/readyz``.
"""

from __future__ import annotations

import hmac

from aiohttp import web
from opentelemetry import propagate, trace

from edgeway.controlplane.admin.errors import ApiError, Handler, error_middleware, json_response
from edgeway.controlplane.admin.handlers import OPERATIONS, routes
from edgeway.controlplane.admin.openapi import openapi_document
from edgeway.controlplane.discovery.admin import routes as node_routes
from edgeway.controlplane.operations import Operations
from edgeway.controlplane.store import StoreError

# Large configs (10,000 routes) are several MB of YAML.
MAX_BODY = 64 * 1024 * 1024
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/v1/openapi.json"})

_tracer = trace.get_tracer("edgeway.controlplane.admin")


def _auth_middleware(token: str | None) -> Handler | object:
    expected = f"Bearer {token}".encode() if token else None

    @web.middleware
    async def auth(request: web.Request, handler: Handler) -> web.StreamResponse:
        if expected is not None and request.path not in OPEN_PATHS:
            given = request.headers.get("Authorization", "").encode()
            if not hmac.compare_digest(given, expected):
                raise ApiError(401, "unauthorized",
                               "missing or wrong admin token (send 'Authorization: Bearer ...')")
        return await handler(request)

    return auth


@web.middleware
async def _trace_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    route = request.match_info.route
    op = route.name or request.path
    ctx = propagate.extract(request.headers)
    with _tracer.start_as_current_span(f"edgeway.admin {op}", context=ctx,
                                       kind=trace.SpanKind.SERVER) as span:
        span.set_attribute("http.request.method", request.method)
        span.set_attribute("url.path", request.path)
        response = await handler(request)
        span.set_attribute("http.response.status_code", response.status)
        return response


async def _healthz(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


async def _readyz(request: web.Request) -> web.Response:
    try:
        await request.app[OPERATIONS].store.latest_version()
    except StoreError as exc:
        raise ApiError(503, "not_ready", f"store unreachable: {exc}") from None
    return json_response({"status": "ready"})


def build_admin_app(ops: Operations, *, token: str | None = None) -> web.Application:
    """The admin API over ``ops``; with ``token`` every /v1 call needs that bearer token."""
    app = web.Application(client_max_size=MAX_BODY, middlewares=[
        error_middleware, _trace_middleware, _auth_middleware(token)])  # type: ignore[list-item]
    app[OPERATIONS] = ops
    document = json_response(openapi_document()).text

    async def openapi(request: web.Request) -> web.Response:
        return web.Response(text=document, content_type="application/json")

    app.router.add_get("/healthz", _healthz, name="healthz")
    app.router.add_get("/readyz", _readyz, name="readyz")
    app.router.add_get("/v1/openapi.json", openapi, name="openapi")
    app.router.add_routes(routes)
    app.router.add_routes(node_routes)
    return app

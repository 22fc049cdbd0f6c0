"""Admin API errors: a stable machine ``code``, a human ``message``, the HTTP status.

Every failure leaves the API as a JSON body ``{"code": ..., "message": ..., ...}``; the
middleware maps store and validation errors onto statuses here, in one table.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from aiohttp import web

from edgeway.common.errors import ConfigInvalid
from edgeway.controlplane.store import Conflict, InvalidName, NotFound, StoreError, StoreUnavailable

log = structlog.get_logger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ApiError(Exception):
    """An error answered as JSON with ``status``, ``code`` and ``message``."""

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, **self.extra}


_STORE_STATUS: dict[type[StoreError], int] = {
    NotFound: 404, Conflict: 409, InvalidName: 400, StoreUnavailable: 503,
}

_HTTP_CODES = {400: "bad_request", 401: "unauthorized", 404: "not_found",
               405: "method_not_allowed", 413: "payload_too_large",
               415: "unsupported_media_type"}


def to_api_error(exc: BaseException) -> ApiError | None:
    """The :class:`ApiError` for a known exception, or None for an unexpected one."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, ConfigInvalid):
        return ApiError(400, exc.code, exc.summary().splitlines()[0],
                        errors=[e.as_dict() for e in exc.errors])
    if isinstance(exc, StoreError):
        status = next((s for t, s in _STORE_STATUS.items() if isinstance(exc, t)), 500)
        return ApiError(status, exc.code, str(exc))
    if isinstance(exc, web.HTTPException) and exc.status >= 400:
        code = _HTTP_CODES.get(exc.status, "http_error")
        message = exc.reason if exc.status != 413 else (
            f"request body too large: {exc.text}")
        return ApiError(exc.status, code, message)
    return None


def json_response(data: object, status: int = 200) -> web.Response:
    return web.Response(text=json.dumps(data, separators=(",", ":")), status=status,
                        content_type="application/json")


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn every error into its JSON answer; log unexpected ones with their traceback."""
    try:
        return await handler(request)
    except Exception as exc:
        api_error = to_api_error(exc)
        if api_error is None:
            log.exception("admin request failed", method=request.method, path=request.path)
            api_error = ApiError(500, "internal_error", "internal error; see the control plane log")
        response = json_response(api_error.body(), api_error.status)
        if api_error.status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="edgeway-admin"'
        return response

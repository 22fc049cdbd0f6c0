"""JSON error answers of the policies: ``{"code": ..., "message": ...}`` with a stable code.

The same body shape as the edge's own errors (``edgeway.edge.proxy.errors``); the proxy adds
the ``x-request-id`` header. Fixed answers are built once per config version with
:func:`error_response`; :func:`problem_response` builds one per request with details.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from edgeway.edge.policies.base import LocalResponse

__all__ = ["JSON_TYPE", "error_response", "problem_response"]

JSON_TYPE = "application/json"


def error_response(
    status: int, code: str, message: str, headers: Iterable[tuple[str, str]] = ()
) -> LocalResponse:
    """A JSON error answer: ``{"code": code, "message": message}``."""
    body = json.dumps({"code": code, "message": message}, ensure_ascii=False).encode()
    return LocalResponse(status, (("content-type", JSON_TYPE), *headers), body)


def problem_response(status: int, code: str, message: str, **details: Any) -> LocalResponse:
    """A JSON error answer with extra fields (``errors=[...]``), rendered now."""
    data: dict[str, Any] = {"code": code, "message": message, **details}
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    return LocalResponse(status, (("content-type", JSON_TYPE),), body)

"""Responses the edge writes itself: mocks, policy answers and errors, rendered once.

A :class:`Canned` response is a ``LocalResponse`` turned into bytes once per config version:
the status line, its own headers and ``content-length``; per request only the request id, the
``connection`` header, the ``date`` and (unless the request was ``HEAD``) the body are added.
"""

from __future__ import annotations

import json
import time
from email.utils import formatdate
from http import HTTPStatus

from edgeway.edge.policies.base import LocalResponse
from edgeway.edge.proxy.errors import EdgeError

__all__ = [
    "CLOSE",
    "CONTINUE",
    "KEEP_ALIVE",
    "Canned",
    "date_line",
    "render_error",
    "status_line",
]

CLOSE = b"connection: close\r\n"
KEEP_ALIVE = b"connection: keep-alive\r\n"
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"

_STATUS_LINES: dict[int, bytes] = {
    status.value: f"HTTP/1.1 {status.value} {status.phrase}\r\n".encode() for status in HTTPStatus
}
_NO_BODY = frozenset({204, 304})
_OWN_HEADERS = frozenset(
    {"content-length", "transfer-encoding", "connection", "keep-alive", "x-request-id", "date"}
)
_JSON = b"content-type: application/json\r\n"


def status_line(status: int, reason: bytes = b"") -> bytes:
    """``HTTP/1.1 <status> <reason>\\r\\n``; the standard phrase unless ``reason`` is given."""
    if not reason:
        line = _STATUS_LINES.get(status)
        if line is not None:
            return line
    return b"HTTP/1.1 %d %s\r\n" % (status, reason or b"Unknown")


_date_second = -1
_date = b""


def date_line() -> bytes:
    """``date: <IMF-fixdate>\\r\\n``, formatted at most once per second."""
    global _date_second, _date
    now = time.time()
    second = int(now)
    if second != _date_second:
        _date_second = second
        _date = b"date: " + formatdate(now, usegmt=True).encode() + b"\r\n"
    return _date


class Canned:
    """A local response rendered once: see the module docstring."""

    __slots__ = ("body", "head", "status")

    def __init__(self, response: LocalResponse) -> None:
        self.status = response.status
        lines = [status_line(response.status)]
        for name, value in response.headers:
            if name.lower() not in _OWN_HEADERS:
                lines.append(f"{name}: {value}\r\n".encode())
        bodyless = response.status < 200 or response.status in _NO_BODY
        if not bodyless:
            lines.append(b"content-length: %d\r\n" % len(response.body))
        self.head = b"".join(lines)
        self.body = b"" if bodyless else response.body

    def render(self, request_id: bytes, connection: bytes, head_only: bool) -> bytes:
        """The whole response for one request."""
        return b"".join((
            self.head, b"x-request-id: ", request_id, b"\r\n", connection, date_line(), b"\r\n",
            b"" if head_only else self.body,
        ))  # fmt: skip


def render_error(error: EdgeError, request_id: str, connection: bytes, head_only: bool) -> bytes:
    """The JSON error response ``{"code", "message", "request_id"}`` for ``error``."""
    body = json.dumps(
        {"code": error.code, "message": error.message, "request_id": request_id},
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()
    return b"".join((
        status_line(error.status), _JSON, b"content-length: %d\r\n" % len(body),
        b"x-request-id: ", request_id.encode(), b"\r\n", connection, date_line(), b"\r\n",
        b"" if head_only else body,
    ))  # fmt: skip

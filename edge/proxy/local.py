"""Responses the edge writes itself: mocks, policy answers and errors, rendered once.

A :class:`Canned` response is a ``LocalResponse`` turned into bytes once per config version:
the status line, its own headers and ``content-length``; per request only the request id, the
``connection`` header, the ``date`` and (unless the request was ``HEAD``) the body are added.

Response headers that policies collected for the client (``extra``, already rendered as
``name: value\r\n`` lines) are added to a canned response or an error; a header a policy
*set* replaces the response's own header of that name (``replaced``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Collection
from dataclasses import dataclass
from email.utils import formatdate
from http import HTTPStatus
from typing import Final

from mypy_extensions import mypyc_attr

from edgeway.edge.policies.base import LocalResponse
from edgeway.edge.proxy.errors import EdgeError

__all__ = [
    "CLOSE",
    "CONTINUE",
    "KEEP_ALIVE",
    "Canned",
    "ErrorAnswer",
    "date_line",
    "header_line",
    "render_error",
    "status_line",
]

CLOSE: Final = b"connection: close\r\n"
KEEP_ALIVE: Final = b"connection: keep-alive\r\n"
CONTINUE: Final = b"HTTP/1.1 100 Continue\r\n\r\n"

_STATUS_LINES: Final[dict[int, bytes]] = {
    status.value: f"HTTP/1.1 {status.value} {status.phrase}\r\n".encode() for status in HTTPStatus
}
_NO_BODY: Final = frozenset({204, 304})
_OWN_HEADERS: Final = frozenset(
    {"content-length", "transfer-encoding", "connection", "keep-alive", "x-request-id", "date"}
)
_JSON: Final = b"content-type: application/json\r\n"


def status_line(status: int, reason: bytes = b"") -> bytes:
    """``HTTP/1.1 <status> <reason>\\r\\n``; the standard phrase unless ``reason`` is given."""
    if not reason:
        line = _STATUS_LINES.get(status)
        if line is not None:
            return line
    return b"HTTP/1.1 %d %s\r\n" % (status, reason or b"Unknown")


class _DateLine:
    """The last ``date`` line and its second (an object: module globals that change are read
    from the module's dict by compiled code)."""

    second = -1
    line = b""


_DATE: Final = _DateLine()


def date_line() -> bytes:
    """``date: <IMF-fixdate>\\r\\n``, formatted at most once per second."""
    now = time.time()
    second = int(now)
    cached = _DATE
    if second != cached.second:
        cached.second = second
        cached.line = b"date: " + formatdate(now, usegmt=True).encode() + b"\r\n"
    return cached.line


def header_line(name: str, value: str) -> bytes:
    """``name: value\\r\\n`` as Latin-1 bytes (UTF-8 when it does not fit: text received as
    Latin-1 goes back byte for byte); CR, LF and NUL become spaces (a value made from request
    data must not inject a header)."""
    text = f"{name}: {value}\r\n"
    if text.count("\r") > 1 or text.count("\n") > 1 or "\0" in text:
        text = text[:-2].replace("\r", " ").replace("\n", " ").replace("\0", " ") + "\r\n"
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode()


@mypyc_attr(native_class=False)  # compiled: its base (a slotted dataclass) is not
@dataclass(frozen=True)
class ErrorAnswer(LocalResponse):
    """An answer of the proxy's own inside a policy chain (a fail-closed plugin, a body too
    large to buffer): the proxy answers ``error`` with its JSON error body."""

    error: EdgeError

    @classmethod
    def of(cls, error: EdgeError) -> ErrorAnswer:
        return cls(error.status, (), b"", error)


class Canned:
    """A local response rendered once: see the module docstring."""


    def __init__(self, response: LocalResponse) -> None:
        self.status = response.status
        self.pairs = tuple((name.lower(), value) for name, value in response.headers
                           if name.lower() not in _OWN_HEADERS)  # fmt: skip
        self.names = frozenset(name for name, _ in self.pairs)
        self.bodyless = response.status < 200 or response.status in _NO_BODY
        self.body = b"" if self.bodyless else response.body
        self.head = self._head(self.pairs)

    def _head(self, pairs: tuple[tuple[str, str], ...]) -> bytes:
        lines = [status_line(self.status)]
        lines += [header_line(name, value) for name, value in pairs]
        if not self.bodyless:
            lines.append(b"content-length: %d\r\n" % len(self.body))
        return b"".join(lines)

    def render(self, request_id: bytes, connection: bytes, head_only: bool,
               extra: bytes = b"", replaced: Collection[str] = ()) -> bytes:
        """The whole response for one request, with the policies' ``extra`` header lines;
        its own headers named in ``replaced`` are left out."""
        head = self.head
        if replaced and not self.names.isdisjoint(replaced):
            head = self._head(tuple(p for p in self.pairs if p[0] not in replaced))
        return b"".join((
            head, extra, b"x-request-id: ", request_id, b"\r\n", connection, date_line(),
            b"\r\n", b"" if head_only else self.body,
        ))  # fmt: skip


def render_error(error: EdgeError, request_id: str, connection: bytes, head_only: bool,
                 extra: bytes = b"") -> bytes:  # fmt: skip
    """The JSON error response ``{"code", "message", "request_id"}`` for ``error``, with the
    policies' ``extra`` header lines."""
    body = json.dumps(
        {"code": error.code, "message": error.message, "request_id": request_id},
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()
    return b"".join((
        status_line(error.status), _JSON, extra, b"content-length: %d\r\n" % len(body),
        b"x-request-id: ", request_id.encode(), b"\r\n", connection, date_line(), b"\r\n",
        b"" if head_only else body,
    ))  # fmt: skip

"""A response the plugin answers with at the edge, instead of the upstream."""

from __future__ import annotations

import json as _json
from collections.abc import Mapping
from typing import Any

from edgeway.sdk._views import check_header
from edgeway.v1 import plugin_pb2

__all__ = ["Response"]

_UNSET: Any = object()


class Response:
    """Returned from ``on_request`` to answer the client directly.

    Give at most one of ``json`` (serialized, ``content-type: application/json``), ``text``
    (UTF-8, ``text/plain``) or ``body`` (bytes as they are); ``headers`` override the defaults.
    """

    __slots__ = ("body", "headers", "status")

    def __init__(
        self,
        status: int,
        *,
        json: Any = _UNSET,
        text: str | None = None,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if not 200 <= status <= 599:
            raise ValueError(f"status must be between 200 and 599, got {status}")
        given = (json is not _UNSET) + (text is not None) + (body is not None)
        if given > 1:
            raise ValueError("give at most one of json=, text= and body=")
        self.status = status
        self.headers: dict[str, str] = {}
        if json is not _UNSET:
            self.body = _json.dumps(json, separators=(",", ":")).encode()
            self.headers["content-type"] = "application/json"
        elif text is not None:
            self.body = text.encode()
            self.headers["content-type"] = "text/plain; charset=utf-8"
        else:
            self.body = b"" if body is None else bytes(body)
        for name, value in (headers or {}).items():
            self.headers[check_header(name, value)] = value

    def __repr__(self) -> str:
        return f"Response({self.status}, body={self.body[:60]!r})"

    def _message(self) -> plugin_pb2.DirectResponse:
        return plugin_pb2.DirectResponse(
            status=self.status,
            headers=[plugin_pb2.HeaderEntry(name=n, value=v) for n, v in self.headers.items()],
            body=self.body,
        )

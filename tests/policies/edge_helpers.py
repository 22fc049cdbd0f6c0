"""What the policy tests through real edge processes share: requests and the echo's view.

:func:`call` sends one request to an edge port (``tests.edge.client``: exact bytes, every
response detail); :func:`echoed` reads what the echo upstream received (method, path, query,
headers, body), :func:`sent_header` one header of it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tests.edge.client import Response, fetch

__all__ = ["call", "echoed", "error_code", "sent_header"]


async def call(port: int, target: str, *, method: str = "GET",
               headers: Iterable[tuple[str, str]] = (), body: bytes | None = None,
               chunked: bool = False) -> Response:  # fmt: skip
    return await fetch(port, method, target, headers=list(headers), body=body, chunked=chunked)


def echoed(response: Response) -> dict[str, Any]:
    """What the upstream received (the echo's JSON), after checking it answered."""
    assert response.status == 200, (response.status, response.body[:500])
    data: dict[str, Any] = response.json()
    assert "headers" in data, data
    return data


def sent_header(response: Response, name: str) -> str | None:
    """The value of header ``name`` the upstream received, ``None`` when it got none."""
    values = [v for k, v in echoed(response)["headers"] if k.lower() == name.lower()]
    assert len(values) <= 1, values
    return values[0] if values else None


def error_code(response: Response) -> str:
    body: dict[str, Any] = response.json()
    code: str = body["code"]
    return code

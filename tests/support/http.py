"""A tiny JSON HTTP client for tests (stdlib; answers are returned, never raised)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any
    headers: dict[str, str]  # names in lower case


def call(method: str, url: str, *, json_body: object = None, data: bytes | None = None,
         content_type: str | None = None, headers: dict[str, str] | None = None,
         timeout: float = 30.0) -> Answer:
    all_headers = dict(headers or {})
    if json_body is not None:
        data = json.dumps(json_body).encode()
        content_type = "application/json"
    if content_type:
        all_headers["Content-Type"] = content_type
    request = urllib.request.Request(url, data=data, method=method, headers=all_headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw, status, got = response.read(), response.status, response.headers
    except urllib.error.HTTPError as exc:
        raw, status, got = exc.read(), exc.code, exc.headers
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        body = raw.decode(errors="replace")
    return Answer(status, body, {k.lower(): v for k, v in got.items()})

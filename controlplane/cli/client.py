"""A small synchronous client of the admin API for the CLI (stdlib HTTP, one call per command).

Failures become :class:`click.ClickException` with a message that says what to do: an
unreachable API names the URL and how to set it; an API error shows its code, message and every
listed validation error.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import click

DEFAULT_ADMIN_URL = "http://127.0.0.1:9080"


class ApiFailure(click.ClickException):
    """The admin API answered with an error."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        self.status = status
        self.body = body
        lines = [f"{body.get('message', 'request failed')} [{body.get('code', status)}]"]
        lines += [f"  {e.get('path') or '(config)'}: {e.get('message')}"
                  for e in body.get("errors", [])]
        super().__init__("\n".join(lines))


class AdminClient:
    """Calls ``/v1/...`` on the admin API with an optional bearer token."""

    def __init__(self, base_url: str, token: str | None = None, timeout: float = 30.0) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise click.BadParameter(f"admin URL must start with http:// or https://, "
                                     f"got {base_url!r}", param_hint="--admin-url")
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def request(self, method: str, path: str, *, query: dict[str, Any] | None = None,
                json_body: object = None, data: bytes | None = None,
                content_type: str | None = None) -> Any:
        url = self.base_url + path
        params = {k: str(v) for k, v in (query or {}).items() if v is not None}
        if params:
            url += "?" + urllib.parse.urlencode(params)
        headers = {"Accept": "application/json"}
        if json_body is not None:
            data = json.dumps(json_body).encode()
            content_type = "application/json"
        if content_type:
            headers["Content-Type"] = content_type
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                body = json.loads(raw)
            except ValueError:
                body = {"code": f"http_{exc.code}", "message": raw.decode(errors="replace")[:500]
                        or exc.reason}
            raise ApiFailure(exc.code, body if isinstance(body, dict) else {}) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise click.ClickException(
                f"cannot reach the admin API at {self.base_url}: {reason}\n"
                "  is the control plane running? set --admin-url or EDGEWAY_ADMIN_URL") from None

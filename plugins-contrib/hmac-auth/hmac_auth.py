"""hmac-auth: verify HMAC-SHA256 request signatures at the edge (an Edgeway plugin service).

A client signs ``METHOD\\nPATH\\nDATE\\nDIGEST`` with a shared secret and sends::

    date: Sun, 22 Nov 2026 10:00:00 GMT
    digest: SHA-256=<base64 of sha256(body)>
    authorization: HMAC-SHA256 keyId="app-1", signature="<base64 of hmac-sha256>"

The plugin checks the key id, the signature (constant time), the body digest, the date against
the allowed clock skew, and refuses a signature it has already seen within that window (replay
protection). A verified request goes on with ``x-hmac-key-id`` and the context value
``hmac.key_id``; the ``authorization`` header is removed unless ``hide_credentials`` is off.

Run: ``python plugins-contrib/hmac-auth/hmac_auth.py --listen 127.0.0.1:50061``.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import re
import time
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from edgeway.sdk import Plugin, Request, Response, serve

__all__ = ["HmacAuth", "HmacConfig", "HmacKey", "sign", "signing_string"]

SCHEME = "HMAC-SHA256"
MISSING = "missing or malformed authorization header; expected HMAC-SHA256 keyId=..., signature=..."
UNKNOWN_KEY = "unknown key id"
BAD_SIGNATURE = "signature does not match"
BAD_DATE = "missing or unparsable date header"
SKEWED = "date is outside the allowed clock skew"
BAD_DIGEST = "digest header does not match the body"
NO_DIGEST = "a digest header is required for a request with a body"
REPLAYED = "this signature was already used"
TOO_LARGE = "the body is too large to verify"

_PARAMS = re.compile(r'(\w+)="([^"]*)"')


class HmacKey(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1, max_length=128, description="The keyId clients send.")
    secret: str = Field(min_length=16, description="Shared secret (at least 16 characters).")


class HmacConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    keys: list[HmacKey] = Field(min_length=1, description="Accepted keys.")
    clock_skew_s: int = Field(300, ge=1, le=3600, description="Allowed |now - date| seconds.")
    hide_credentials: bool = Field(True, description="Remove authorization before upstream.")

    @model_validator(mode="after")
    def _unique_ids(self) -> Self:
        seen: set[str] = set()
        for key in self.keys:
            if key.id in seen:
                raise ValueError(f"duplicate key id {key.id!r}")
            seen.add(key.id)
        return self


def body_digest(body: bytes) -> str:
    return "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode()


def signing_string(method: str, path: str, date: str, digest: str) -> str:
    return f"{method.upper()}\n{path}\n{date}\n{digest}"


def sign(key_id: str, secret: str, method: str, path: str, body: bytes = b"",
         date: str | None = None) -> dict[str, str]:
    """The headers a client sends for a signed request (for clients and tests)."""
    date = date or format_datetime(datetime.now(UTC), usegmt=True)
    digest = body_digest(body) if body else ""
    mac = hmac.new(secret.encode(), signing_string(method, path, date, digest).encode(),
                   hashlib.sha256)
    signature = base64.b64encode(mac.digest()).decode()
    headers = {"date": date,
               "authorization": f'{SCHEME} keyId="{key_id}", signature="{signature}"'}
    if digest:
        headers["digest"] = digest
    return headers


def _deny(message: str, status: int = 401) -> Response:
    return Response(status, json={"code": "hmac_auth_failed", "message": message},
                    headers={"www-authenticate": SCHEME})


class HmacAuth(Plugin[HmacConfig]):
    name = "hmac-auth"
    version = "1.0.0"
    request_body = 1024 * 1024

    def __init__(self) -> None:
        self._seen: dict[str, float] = {}

    def _replayed(self, signature: str, now: float, window: int) -> bool:
        if len(self._seen) > 100_000:
            self._seen = {s: until for s, until in self._seen.items() if until > now}
        until = self._seen.get(signature)
        if until is not None and until > now:
            return True
        self._seen[signature] = now + 2 * window
        return False

    async def on_request(self, request: Request, config: HmacConfig) -> Response | None:
        header = request.header("authorization") or ""
        scheme, _, rest = header.partition(" ")
        params = dict(_PARAMS.findall(rest))
        if scheme != SCHEME or "keyId" not in params or "signature" not in params:
            return _deny(MISSING)
        secret = next((k.secret for k in config.keys if k.id == params["keyId"]), None)
        if secret is None:
            return _deny(UNKNOWN_KEY)
        date = request.header("date") or ""
        try:
            sent = parsedate_to_datetime(date).timestamp()
        except (TypeError, ValueError):
            return _deny(BAD_DATE)
        now = time.time()
        if abs(now - sent) > config.clock_skew_s:
            return _deny(SKEWED)
        digest = request.header("digest") or ""
        if request.body_truncated:
            return _deny(TOO_LARGE, 413)
        if request.body and not digest:
            return _deny(NO_DIGEST)
        if digest and not hmac.compare_digest(digest, body_digest(request.body)):
            return _deny(BAD_DIGEST)
        expected = hmac.new(secret.encode(), signing_string(
            request.method, request.path, date, digest).encode(), hashlib.sha256).digest()
        try:
            given = base64.b64decode(params["signature"], validate=True)
        except ValueError:
            return _deny(BAD_SIGNATURE)
        if not hmac.compare_digest(expected, given):
            return _deny(BAD_SIGNATURE)
        if self._replayed(params["signature"], now, config.clock_skew_s):
            return _deny(REPLAYED)
        request.set_header("x-hmac-key-id", params["keyId"])
        request.set_context("hmac.key_id", params["keyId"])
        if config.hide_credentials:
            request.remove_header("authorization")
        return None


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="hmac-auth plugin service")
    parser.add_argument("--listen", default="127.0.0.1:50061", help="host:port to serve on")
    serve(HmacAuth(), parser.parse_args().listen)

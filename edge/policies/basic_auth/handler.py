"""Handler of the ``basic-auth`` policy: parse, look the user up, verify (cached).

The verification cache maps a digest of (stored hash, password) to the time it expires: a hit
costs one SHA-256 and a dict lookup; only a successful PBKDF2 check is remembered, so a wrong
password is always checked in full, and a changed password (a new stored hash) misses. PBKDF2
runs in a worker thread, at most :data:`MAX_CONCURRENT_CHECKS` at a time per edge, so
guessing cannot starve the event loop.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
from collections.abc import Awaitable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from edgeway.common.config.secrets import verify_password
from edgeway.edge.policies._auth import identify, unauthorized
from edgeway.edge.policies.base import Exchange, Outcome, Phase, PolicyHandler

if TYPE_CHECKING:
    from edgeway.edge.compile.model import CompiledConfig, CredentialMatch
    from edgeway.edge.policies.services import Services

__all__ = ["BasicAuthHandler", "VerifiedCache"]

MAX_CONCURRENT_CHECKS = 4
MAX_REMEMBERED = 10_000


class VerifiedCache:
    """Recently verified (hash, password) digests and when they expire; shared per edge."""

    __slots__ = ("__weakref__", "entries", "semaphore")

    def __init__(self) -> None:
        self.entries: dict[bytes, float] = {}
        self.semaphore = asyncio.Semaphore(MAX_CONCURRENT_CHECKS)

    def remember(self, digest: bytes, until: float) -> None:
        if len(self.entries) >= MAX_REMEMBERED:
            self.entries.clear()
        self.entries[digest] = until


def parse_basic(value: str) -> tuple[str, str] | None:
    """``(user, password)`` of an ``Authorization: Basic ...`` value, or ``None``."""
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "basic" or not token:
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, colon, password = decoded.partition(":")
    return (user, password) if colon else None


class BasicAuthHandler(PolicyHandler):
    """Admits requests with a valid user and password (see the module docstring)."""

    NAME: ClassVar[str] = "basic-auth"
    VERSION: ClassVar[str] = "1.0.0"
    PHASE: ClassVar[Phase] = Phase.AUTHENTICATION
    PRIORITY: ClassVar[int] = 1100

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)
        challenge = f'Basic realm="{config["realm"]}"'
        self.missing = unauthorized("missing_credentials", "no basic credentials found", challenge)
        self.invalid = unauthorized("invalid_credentials", "invalid user or password", challenge)
        self.hide = bool(config["hide_credentials"])
        self.ttl = float(config["cache_ttl_s"])
        self.users: Mapping[str, CredentialMatch] = {}
        self.cache = VerifiedCache()
        self.clock = _unbound_clock

    def bind(self, config: CompiledConfig, services: Services) -> None:
        self.users = config.credentials.by_basic_username
        self.cache = services.shared(("basic-auth", "verified"), VerifiedCache)
        self.clock = services.clock

    def on_request(self, exchange: Exchange) -> Outcome | Awaitable[Outcome]:
        header = exchange.headers.get("authorization")
        parsed = parse_basic(header) if header else None
        if parsed is None:
            return self.missing
        user, password = parsed
        match = self.users.get(user)
        stored = match.credential.password_hash if match is not None else ""
        if match is None or not stored:
            return self.invalid
        digest = hashlib.sha256(stored.encode() + b"\0" + password.encode()).digest()
        until = self.cache.entries.get(digest)
        if until is not None and until > self.clock():
            return self._accept(exchange, match)
        return self._verify(exchange, match, password, stored, digest)

    async def _verify(
        self, exchange: Exchange, match: CredentialMatch, password: str, stored: str,
        digest: bytes,
    ) -> Outcome:  # fmt: skip
        async with self.cache.semaphore:
            valid = await asyncio.to_thread(verify_password, password, stored)
        if not valid:
            return self.invalid
        if self.ttl > 0:
            self.cache.remember(digest, self.clock() + self.ttl)
        return self._accept(exchange, match)

    def _accept(self, exchange: Exchange, match: CredentialMatch) -> Outcome:
        if self.hide:
            exchange.remove_header("authorization")
        identify(exchange, match.consumer, match.credential)
        return None


def _unbound_clock() -> float:
    raise RuntimeError("basic-auth handler used before bind()")

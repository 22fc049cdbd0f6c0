"""Handler of the ``basic-auth`` policy: parse, look the user up, verify (cached).

The verification cache maps a digest of (stored hash, password) to the time it expires: a hit
costs one SHA-256 and a dict lookup; only a successful PBKDF2 check is remembered, so a wrong
password is always checked in full, and a changed password (a new stored hash) misses. PBKDF2
runs in a worker thread, at most :data:`MAX_CONCURRENT_CHECKS` at a time per edge, so
guessing cannot starve the event loop.

An unknown user name costs what a known one with a wrong password costs: the password is
checked in full against a dummy hash (:func:`dummy_hash`, made at bind time with the iteration
count most of the configured hashes use), so user names cannot be told apart by timing.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import collections
import hashlib
import os
from collections.abc import Awaitable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from edgeway.common.config.secrets import (
    PASSWORD_HASH_PATTERN,
    PBKDF2_ITERATIONS,
    verify_password,
)
from edgeway.edge.policies._auth import Anonymous, identify, unauthorized
from edgeway.edge.policies.base import Exchange, Outcome, Phase, PolicyHandler

if TYPE_CHECKING:
    from edgeway.edge.compile.model import CompiledConfig, CredentialMatch
    from edgeway.edge.policies.services import Services

__all__ = ["BasicAuthHandler", "VerifiedCache", "dummy_hash"]

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


def dummy_hash(stored: Iterable[str]) -> str:
    """A well-formed PBKDF2 hash that no password verifies (random salt and digest, so
    making it costs nothing), with the iteration count most of ``stored`` use (ties: the
    larger; none: the default)."""
    counts = collections.Counter(
        int(match.group(1)) for match in map(PASSWORD_HASH_PATTERN.fullmatch, stored) if match
    )
    iterations = max(counts, key=lambda n: (counts[n], n)) if counts else PBKDF2_ITERATIONS
    salt, digest = (base64.b64encode(os.urandom(size)).decode() for size in (16, 32))
    return f"pbkdf2-sha256${iterations}${salt}${digest}"


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
        self.dummy = dummy_hash(())
        self.cache = VerifiedCache()
        self.clock = _unbound_clock
        name = config.get("anonymous")
        self.anonymous = Anonymous(name) if name is not None else None

    def bind(self, config: CompiledConfig, services: Services) -> None:
        self.users = config.credentials.by_basic_username
        self.dummy = dummy_hash(m.credential.password_hash for m in self.users.values())
        self.cache = services.shared(("basic-auth", "verified"), VerifiedCache)
        self.clock = services.clock
        if self.anonymous is not None:
            self.anonymous.bind(self.NAME, self.config, config.consumers)

    def on_request(self, exchange: Exchange) -> Outcome | Awaitable[Outcome]:
        if self.anonymous is not None:
            return self.anonymous.run(exchange, self.authenticate)
        return self.authenticate(exchange)

    def authenticate(self, exchange: Exchange) -> Outcome | Awaitable[Outcome]:
        """Identify the user's consumer (a remembered success at once, else after PBKDF2 in a
        thread), or answer 401."""
        header = exchange.header("authorization")
        parsed = parse_basic(header) if header else None
        if parsed is None:
            return self.missing
        user, password = parsed
        if self.hide:  # also when refused: an anonymous fallback forwards no password
            exchange.remove_header("authorization")
        match = self.users.get(user)
        stored = match.credential.password_hash if match is not None else ""
        if match is None or not stored:  # the same work as a wrong password, then refused
            match, stored = None, self.dummy
        digest = hashlib.sha256(stored.encode() + b"\0" + password.encode()).digest()
        until = self.cache.entries.get(digest)
        if until is not None and until > self.clock() and match is not None:
            return self._accept(exchange, match)
        return self._verify(exchange, match, password, stored, digest)

    async def _verify(
        self, exchange: Exchange, match: CredentialMatch | None, password: str, stored: str,
        digest: bytes,
    ) -> Outcome:  # fmt: skip
        async with self.cache.semaphore:
            valid = await asyncio.to_thread(verify_password, password, stored)
        if not valid or match is None:
            return self.invalid
        if self.ttl > 0:
            self.cache.remember(digest, self.clock() + self.ttl)
        return self._accept(exchange, match)

    def _accept(self, exchange: Exchange, match: CredentialMatch) -> Outcome:
        identify(exchange, match.consumer, match.credential)
        return None


def _unbound_clock() -> float:
    raise RuntimeError("basic-auth handler used before bind()")

"""Verification keys of the ``jwt`` policy: an issuer's JWKS fetched over HTTP, and which
algorithms a key may verify.

A :class:`JwksKeys` is shared by every handler (and config version) naming the same URL and
timings. It is fetched on first use, then refreshed every ``refresh_s`` by a background task
owned by the edge's services; a token with an unknown ``kid`` triggers a refetch at most every
``min_refetch_s``. A failed fetch keeps the keys already known (served stale) and is logged.
Concurrent callers share one fetch.
"""

from __future__ import annotations

import asyncio
import json
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiohttp
import jwt
import structlog

if TYPE_CHECKING:
    from edgeway.edge.policies.services import Services

__all__ = ["FAMILIES", "JwksKeys", "KeyEntry", "compatible", "parse_jwks"]

log = structlog.get_logger(__name__)

MAX_JWKS_BYTES = 1 << 20

FAMILIES: dict[str, tuple[str, ...]] = {
    "RSA": ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512"),
    "EC": ("ES256", "ES384", "ES512"),
    "OKP": ("EdDSA",),
}
"""Algorithms a public key of each ``kty`` may verify; symmetric (``oct``) keys have none."""


@dataclass(frozen=True, slots=True)
class KeyEntry:
    """A usable public key: the key object, its type, and the ``alg`` it declares (if any)."""

    key: Any
    kty: str
    alg: str | None


def compatible(entry: KeyEntry, alg: str) -> bool:
    """Whether ``entry`` may verify a token signed with ``alg`` (never HS*, never ``none``)."""
    if entry.alg is not None and entry.alg != alg:
        return False
    return alg in FAMILIES.get(entry.kty, ())


def parse_jwks(data: Any) -> dict[str | None, KeyEntry]:
    """The usable signature keys of a JWKS document by ``kid`` (``None`` for a key without
    one). Symmetric keys, encryption keys and keys PyJWT cannot read are left out."""
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise ValueError("a JWKS is an object with a 'keys' list")
    keys: dict[str | None, KeyEntry] = {}
    for item in data["keys"]:
        if not isinstance(item, dict) or item.get("kty") not in FAMILIES:
            continue
        if item.get("use", "sig") != "sig":
            continue
        try:
            parsed = jwt.PyJWK.from_dict(item)
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError):
            continue
        kid = item.get("kid")
        alg = item.get("alg")
        keys[kid if isinstance(kid, str) else None] = KeyEntry(
            parsed.key, str(item["kty"]), alg if isinstance(alg, str) else None
        )
    return keys


class JwksKeys:
    """The keys of one JWKS URL (see the module docstring)."""

    __slots__ = ("__weakref__", "_fetching", "_task", "fetched_at", "keys", "last_attempt",
                 "last_error", "min_refetch_s", "refresh_s", "services", "timeout_s",
                 "url")  # fmt: skip

    def __init__(self, url: str, services: Services, *, refresh_s: float, min_refetch_s: float,
                 timeout_s: float) -> None:  # fmt: skip
        self.url = url
        self.services = services
        self.refresh_s = refresh_s
        self.min_refetch_s = min_refetch_s
        self.timeout_s = timeout_s
        self.keys: dict[str | None, KeyEntry] = {}
        self.fetched_at: float | None = None
        self.last_attempt = float("-inf")
        self.last_error = ""
        self._fetching: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None

    def lookup(self, kid: str | None) -> KeyEntry | None:
        """The key for ``kid``; a token without ``kid`` uses the only key of a one-key set."""
        found = self.keys.get(kid)
        if found is None and kid is None and len(self.keys) == 1:
            found = next(iter(self.keys.values()))
        return found

    async def key(self, kid: str | None) -> KeyEntry | None:
        """The key for ``kid``, fetching the set first when it is unknown and a fetch is
        allowed (never fetched yet, or the last attempt is ``min_refetch_s`` old)."""
        self._start()
        found = self.lookup(kid)
        if found is not None:
            return found
        waited = self.services.clock() - self.last_attempt
        if self.fetched_at is None or waited >= self.min_refetch_s or self._fetching is not None:
            await self.refresh()
        return self.lookup(kid)

    async def refresh(self) -> None:
        """Fetch the set now, or join the fetch under way; never raises for a failed fetch."""
        if self._fetching is None:
            self._fetching = asyncio.get_running_loop().create_future()
            try:
                await self._fetch()
            finally:
                fetching, self._fetching = self._fetching, None
                fetching.set_result(None)
        else:
            await asyncio.shield(self._fetching)

    async def _fetch(self) -> None:
        self.last_attempt = self.services.clock()
        try:
            timeout = aiohttp.ClientTimeout(total=self.timeout_s)
            async with self.services.http().get(self.url, timeout=timeout) as response:
                body = await response.content.read(MAX_JWKS_BYTES + 1)
                if response.status != 200:
                    raise ValueError(f"HTTP {response.status}")
            if len(body) > MAX_JWKS_BYTES:
                raise ValueError(f"the JWKS is larger than {MAX_JWKS_BYTES} bytes")
            keys = parse_jwks(json.loads(body))
        except (aiohttp.ClientError, TimeoutError, ValueError, OSError) as exc:
            self.last_error = str(exc) or type(exc).__name__
            log.warning("jwks fetch failed; keeping the known keys", url=self.url,
                        error=self.last_error, known=len(self.keys))  # fmt: skip
            return
        self.keys = keys
        self.fetched_at = self.services.clock()
        self.last_error = ""

    def _start(self) -> None:
        if self._task is None and not self.services.closed:
            refresher = _refresh_forever(weakref.ref(self), self.refresh_s)
            self._task = self.services.spawn(refresher, f"jwks {self.url}")


async def _refresh_forever(ref: weakref.ref[JwksKeys], period: float) -> None:
    """Refresh the set every ``period`` while anything still uses it (a weak reference, so a
    retired set is not kept alive by its own task)."""
    while True:
        await asyncio.sleep(period)
        keys = ref()
        if keys is None:
            return
        await keys.refresh()
        del keys

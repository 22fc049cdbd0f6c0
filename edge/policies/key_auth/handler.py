"""Handler of the ``key-auth`` policy: find the key, look its hash up, name the consumer.

Keys are compared by their SHA-256 hash: the presented key is hashed (under half a microsecond)
and its digest looked up among the credentials' (``CredentialIndex.by_key_digest``), so no
comparison ever runs on a secret itself, and the config holds hashes only. A keep-alive
connection's last verified key is kept in its :attr:`~.base.Request.connection_memo` (where
only that connection's requests look): the next request presenting the same key, compared with
it in constant time, is that consumer again without hashing. With ``anonymous`` (see
:mod:`edgeway.edge.policies._auth`) a missing or unknown key makes the caller that consumer
instead of a 401.
"""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Final, cast

from edgeway.edge.policies._auth import (
    Anonymous,
    identify,
    identity_changes,
    rememberable,
    same_secret,
    unauthorized,
)
from edgeway.edge.policies.base import Exchange, Outcome, Phase, PolicyHandler

if TYPE_CHECKING:
    from edgeway.edge.compile.model import CompiledConfig, CredentialMatch
    from edgeway.edge.policies.services import Services

__all__ = ["KeyAuthHandler", "key_digest"]

_CHALLENGE: Final = 'Key realm="edgeway"'


def _builtin_sha256() -> Callable[[bytes], Any]:
    """CPython's own SHA-256 (``_sha2`` from 3.12, ``_sha256`` before; hashlib's when neither
    is there). For a short key it costs a third of hashlib's OpenSSL constructor, which sets up
    an EVP context for every call; the digest is the same (a test holds it)."""
    for module in ("_sha2", "_sha256"):
        try:
            return cast("Callable[[bytes], Any]", importlib.import_module(module).sha256)
        except (ImportError, AttributeError):
            continue
    return hashlib.sha256


_sha256: Final = _builtin_sha256()


class KeyAuthHandler(PolicyHandler):
    """Admits requests carrying a known API key (see the module docstring)."""

    NAME: ClassVar[str] = "key-auth"
    VERSION: ClassVar[str] = "1.0.0"
    PHASE: ClassVar[Phase] = Phase.AUTHENTICATION
    PRIORITY: ClassVar[int] = 1250

    missing = unauthorized("missing_credentials", "no API key found in the request", _CHALLENGE)
    invalid = unauthorized("invalid_credentials", "the API key is not valid", _CHALLENGE)

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)
        self.names: tuple[str, ...] = tuple(config["key_names"])
        self.header_names = tuple(n.lower() for n in self.names) if config["key_in_header"] else ()
        self.query_names = self.names if config["key_in_query"] else ()
        self.hide = bool(config["hide_credentials"])
        self.digests: Mapping[bytes, CredentialMatch] = {}
        name = config.get("anonymous")
        self.anonymous = Anonymous(name) if name is not None else None

    def bind(self, config: CompiledConfig, services: Services) -> None:
        self.digests = config.credentials.by_key_digest
        if self.anonymous is not None:
            self.anonymous.bind(self.NAME, self.config, config.consumers)

    def on_request(self, exchange: Exchange) -> Outcome | Awaitable[Outcome]:
        if self.anonymous is not None:
            return self.anonymous.run(exchange, self.authenticate)
        return self.authenticate(exchange)

    def authenticate(self, exchange: Exchange) -> Outcome:
        """Identify the key's consumer, or answer 401."""
        key = hidden = None
        for name in self.header_names:
            key = exchange.header(name)
            if key is not None:
                if self.hide:
                    hidden = name  # removed with identify()'s headers, or below
                break
        if key is None and self.query_names:
            query = exchange.query_params
            for name in self.query_names:
                values = query.get(name)
                if values:
                    key = values[0]
                    if self.hide:
                        exchange.remove_query_param(name)
                    break
        refusal = self.missing
        if key:
            known = self.verify(exchange, key, hidden)
            if known is not None:
                identify(exchange, known.match.consumer, known.match.credential, known.changes)
                return None
            refusal = self.invalid
        if hidden is not None:  # hidden even when refused: the anonymous fallback goes on
            exchange.remove_header(hidden)
        return refusal

    def verify(self, exchange: Exchange, key: str, hidden: str | None) -> _Verified | None:
        """``key``'s caller: the connection's last one when ``key`` is the same, else found by
        its digest (and kept for the connection's next request)."""
        memo = exchange.connection_memo
        last = memo.get(_SLOT)
        if (isinstance(last, _Verified) and last.policy is self and last.hidden == hidden
                and same_secret(last.key, key)):  # fmt: skip
            return last
        match = self.digests.get(key_digest(key))
        if match is None:
            return None
        found = _Verified(self, key, hidden, match,
                          identity_changes(match.consumer, match.credential, hidden))
        if rememberable(key):
            memo[_SLOT] = found
        return found


_SLOT: Final = "key-auth"
"""key-auth's one entry in a connection's memo: the last key any key-auth policy verified
there, with that policy (an entry per policy would keep every config version a long-lived
connection saw alive; one is replaced by the next version's)."""


class _Verified:
    """A key ``policy`` verified, with its caller and upstream header changes."""

    def __init__(self, policy: KeyAuthHandler, key: str, hidden: str | None,
                 match: CredentialMatch, changes: Mapping[str, str | None]) -> None:  # fmt: skip
        self.policy = policy
        self.key = key
        self.hidden = hidden
        self.match = match
        self.changes = changes


def key_digest(key: str) -> bytes:
    """The raw SHA-256 digest of ``key``: what :func:`~edgeway.common.config.secrets.hash_api_key`
    writes in hex after its prefix (a test holds the two equal). Compiled with the handler, and
    looked up as bytes, which spares formatting the hex for every request."""
    return cast(bytes, _sha256(key.encode("utf-8")).digest())

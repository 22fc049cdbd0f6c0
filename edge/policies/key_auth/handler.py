"""Handler of the ``key-auth`` policy: find the key, look its hash up, name the consumer.

Keys are compared by their SHA-256 hash: the presented key is hashed (about a microsecond) and
looked up among the credentials' hashes, so no comparison ever runs on a secret itself, and
the config holds hashes only. With ``anonymous`` (see :mod:`edgeway.edge.policies._auth`) a
missing or unknown key makes the caller that consumer instead of a 401.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from hashlib import sha256
from typing import TYPE_CHECKING, Any, ClassVar

from edgeway.common.config.secrets import KEY_HASH_PREFIX
from edgeway.edge.policies._auth import Anonymous, identify, unauthorized
from edgeway.edge.policies.base import Exchange, Outcome, Phase, PolicyHandler

if TYPE_CHECKING:
    from edgeway.edge.compile.model import CompiledConfig, CredentialMatch
    from edgeway.edge.policies.services import Services

__all__ = ["KeyAuthHandler", "key_hash"]

_CHALLENGE = 'Key realm="edgeway"'


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
        self.keys: Mapping[str, CredentialMatch] = {}
        name = config.get("anonymous")
        self.anonymous = Anonymous(name) if name is not None else None

    def bind(self, config: CompiledConfig, services: Services) -> None:
        self.keys = config.credentials.by_key_hash
        if self.anonymous is not None:
            self.anonymous.bind(self.NAME, self.config, config.consumers)

    def on_request(self, exchange: Exchange) -> Outcome | Awaitable[Outcome]:
        if self.anonymous is not None:
            return self.anonymous.run(exchange, self.authenticate)
        return self.authenticate(exchange)

    def authenticate(self, exchange: Exchange) -> Outcome:
        """Identify the key's consumer, or answer 401."""
        key = None
        headers = exchange.headers
        for name in self.header_names:
            key = headers.get(name)
            if key is not None:
                if self.hide:
                    exchange.remove_header(name)
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
        if not key:
            return self.missing
        match = self.keys.get(key_hash(key))
        if match is None:
            return self.invalid
        identify(exchange, match.consumer, match.credential)
        return None


def key_hash(key: str) -> str:
    """:func:`~edgeway.common.config.secrets.hash_api_key`, here so that it is compiled with
    the handler (calling into an interpreted module cost as much as the hash; a test holds
    the two equal)."""
    return KEY_HASH_PREFIX + sha256(key.encode("utf-8")).hexdigest()

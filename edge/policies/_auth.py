"""What every authentication policy does on success, their 401 answers, and the anonymous
fallback that lets several of them be chained (Kong's ``anonymous``).

Chaining rule (``docs/policies.md``, *Chaining authentication*): an authentication policy with
``anonymous: NAME``

- skips when an earlier authentication policy of the request already verified a credential
  (the methods are alternatives: any one suffices);
- otherwise authenticates as usual, and where it would answer 401 (no credential, or one that
  does not verify) the request goes on as consumer ``NAME`` instead: no credential,
  ``x-consumer-name: NAME`` and ``x-anonymous-consumer: true`` upstream. Its other answers
  (jwt's 403 ``insufficient_scope``, 503 ``jwks_unavailable``) stay.

A later policy that verifies a credential replaces the anonymous consumer; one without
``anonymous`` still demands its own credential. Whether the caller was verified or is the
fallback is :attr:`Exchange.verified`.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Iterator, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final

import structlog

from edgeway.edge.memo import Memo
from edgeway.edge.policies._responses import error_response
from edgeway.edge.policies._schema import END, string
from edgeway.edge.policies.base import ConfigNames, Exchange, LocalResponse, Outcome

if TYPE_CHECKING:
    from edgeway.edge.compile.model import CompiledConsumer, CompiledCredential

__all__ = [
    "ANONYMOUS_FIELD",
    "ANONYMOUS_HEADER",
    "CONSUMER_HEADER",
    "CONSUMER_NAME",
    "CREDENTIAL_HEADER",
    "END",
    "UNKNOWN_ANONYMOUS",
    "Anonymous",
    "anonymous_names_a_consumer",
    "identify",
    "identity_changes",
    "rememberable",
    "same_secret",
    "unauthorized",
]

log = structlog.get_logger(__name__)

CONSUMER_HEADER: Final = "x-consumer-name"
"""Upstream request header naming the authenticated consumer (replaces a client's value)."""
CREDENTIAL_HEADER: Final = "x-credential-id"
"""Upstream request header with the credential's ``id`` when it has one."""
ANONYMOUS_HEADER: Final = "x-anonymous-consumer"
"""Upstream request header ``true`` when the consumer is an anonymous fallback (removed
otherwise, whatever the client sent)."""

UNKNOWN_ANONYMOUS = "names no configured consumer"

CONSUMER_NAME = r"^[^\s\x00-\x1f\x7f](?:[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f])?" + END
"""A consumer name as the compile step admits it: printable, no surrounding spaces."""

ANONYMOUS_FIELD: dict[str, Any] = string(
    "Name of a configured consumer the request goes on as when this policy cannot"
    " authenticate it (no credential, or one that does not verify) instead of answering 401;"
    " skipped when an earlier authentication policy already verified the caller. Set it on"
    " every authentication policy of a route to accept any one of them.",
    max_length=256, pattern=CONSUMER_NAME,
    pattern_message="must be a consumer name (printable, without surrounding spaces)",
)  # fmt: skip
"""The ``anonymous`` field of key-auth, basic-auth and jwt (absent: no fallback)."""


def identify(
    exchange: Exchange,
    consumer: CompiledConsumer | None,
    credential: CompiledCredential | None,
    changes: Mapping[str, str | None] | None = None,
) -> None:
    """Record the verified caller on the exchange and tell the upstream who it is (replacing
    an anonymous consumer an earlier policy fell back to): with ``changes``, those of
    :func:`identity_changes` for the same caller (a policy that kept them), else its own."""
    exchange.authenticate(consumer, credential)
    exchange.change_headers(changes if changes is not None
                            else identity_changes(consumer, credential))  # fmt: skip


def identity_changes(
    consumer: CompiledConsumer | None,
    credential: CompiledCredential | None,
    hidden: str | None = None,
) -> Mapping[str, str | None]:
    """The upstream header changes naming the verified caller, immutable and memoized;
    ``hidden``: a request header to remove in the same change (the credential's own,
    ``hide_credentials``)."""
    name = consumer.name if consumer is not None else None
    credential_id = credential.id if credential is not None and credential.id else None
    key = (name, credential_id, hidden)
    changes = _IDENTITIES.get(key)
    if changes is None:
        built: dict[str, str | None] = {
            CONSUMER_HEADER: name, CREDENTIAL_HEADER: credential_id, ANONYMOUS_HEADER: None,
        }  # fmt: skip
        if hidden is not None:
            built[hidden] = None
        changes = _IDENTITIES.put(key, MappingProxyType(built))
    return changes


_compare_digest: Final = hmac.compare_digest  # compiled: a C static, not a module attribute


def rememberable(secret: str) -> bool:
    """Whether a credential may be kept (in a connection's memo) to be compared with
    :func:`same_secret`: ASCII text only, what ``compare_digest`` takes."""
    return secret.isascii()


def same_secret(kept: str, presented: str) -> bool:
    """``presented == kept`` in constant time, ``kept`` being :func:`rememberable` (a
    presented text that is not ASCII differs)."""
    try:
        return _compare_digest(kept, presented)
    except TypeError:  # compare_digest takes ASCII text only
        return False


_IDENTITIES: Final[Memo[tuple[str | None, str | None, str | None],
                        Mapping[str, str | None]]] = Memo(4096)  # fmt: skip
""":func:`identity_changes` by consumer, credential and hidden header: immutable, so
the proxy takes them as they are and renders their lines once."""


def unauthorized(code: str, message: str, challenge: str) -> LocalResponse:
    """A 401 answer with a ``WWW-Authenticate`` challenge, built once per config version."""
    return error_response(401, code, message, (("www-authenticate", challenge),))


def anonymous_names_a_consumer(config: Mapping[str, Any], names: ConfigNames
                               ) -> Iterator[tuple[str, str]]:  # fmt: skip
    """``anonymous`` must name a consumer of the gateway config (the ``REFERENCES`` rule of
    key-auth, basic-auth and jwt: refused at apply time)."""
    name = config.get("anonymous")
    if name is not None and name not in names.consumers:
        yield "anonymous", UNKNOWN_ANONYMOUS


Authenticate = Callable[[Exchange], Outcome | Awaitable[Outcome]]


class Anonymous:
    """The anonymous fallback of one authentication policy (see the module docstring).

    Resolved at bind time. A name that is no consumer of the config is refused at apply time
    (:func:`anonymous_names_a_consumer`); should one reach an edge anyway, it is logged and the
    fallback stays off (the policy answers its 401s: closed, never a silent open door).
    """

    __slots__ = ("changes", "consumer", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self.consumer: CompiledConsumer | None = None
        self.changes: Mapping[str, str | None] = MappingProxyType({
            CONSUMER_HEADER: name, CREDENTIAL_HEADER: None, ANONYMOUS_HEADER: "true"})

    def bind(self, policy: str, config: Mapping[str, Any],
             consumers: Mapping[str, CompiledConsumer]) -> None:  # fmt: skip
        self.consumer = consumers.get(self.name)
        if self.consumer is None:  # the compile step refuses this (REFERENCES): defensive
            log.warning("authentication policy's anonymous consumer is unknown; it answers 401",
                        policy=policy, anonymous=self.name)

    def run(self, exchange: Exchange, authenticate: Authenticate) -> Outcome | Awaitable[Outcome]:
        """Skip a verified caller, else ``authenticate`` with a 401 turned into the fallback."""
        if exchange.verified:
            return None
        outcome = authenticate(exchange)
        if outcome is None:
            return None
        if isinstance(outcome, LocalResponse):
            return self._fall_back(exchange, outcome)
        return self._later(exchange, outcome)

    async def _later(self, exchange: Exchange, pending: Awaitable[Outcome]) -> Outcome:
        outcome = await pending
        return None if outcome is None else self._fall_back(exchange, outcome)

    def _fall_back(self, exchange: Exchange, refusal: LocalResponse) -> Outcome:
        consumer = self.consumer
        if refusal.status != 401 or consumer is None:
            return refusal
        exchange.authenticate(consumer, None, verified=False)
        exchange.change_headers(self.changes)
        return None

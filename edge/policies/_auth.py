"""What every authentication policy does on success, and their shared 401 answers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from edgeway.edge.policies._responses import error_response
from edgeway.edge.policies.base import Exchange, LocalResponse

if TYPE_CHECKING:
    from edgeway.edge.compile.model import CompiledConsumer, CompiledCredential

__all__ = ["CONSUMER_HEADER", "CREDENTIAL_HEADER", "identify", "unauthorized"]

CONSUMER_HEADER = "x-consumer-name"
"""Upstream request header naming the authenticated consumer (replaces a client's value)."""
CREDENTIAL_HEADER = "x-credential-id"
"""Upstream request header with the credential's ``id`` when it has one."""


def identify(
    exchange: Exchange, consumer: CompiledConsumer | None, credential: CompiledCredential | None
) -> None:
    """Record the caller on the exchange and tell the upstream who it is."""
    exchange.authenticate(consumer, credential)
    if consumer is not None:
        exchange.set_header(CONSUMER_HEADER, consumer.name)
    else:
        exchange.remove_header(CONSUMER_HEADER)
    if credential is not None and credential.id:
        exchange.set_header(CREDENTIAL_HEADER, credential.id)
    else:
        exchange.remove_header(CREDENTIAL_HEADER)


def unauthorized(code: str, message: str, challenge: str) -> LocalResponse:
    """A 401 answer with a ``WWW-Authenticate`` challenge, built once per config version."""
    return error_response(401, code, message, (("www-authenticate", challenge),))

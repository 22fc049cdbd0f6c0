"""How an etcd call failed, from the gRPC status behind aetcd's exceptions.

Shared by the KV calls of :mod:`.client` and the watch streams of :mod:`._watch`: an endpoint
that cannot be used (``unreachable``) is left for the next one, a missed deadline is ``late``,
anything else is etcd's answer (``other``).
"""

from __future__ import annotations

from typing import Literal

import grpc
import grpc.aio

Kind = Literal["unreachable", "late", "other"]


def status_of(exc: BaseException) -> grpc.StatusCode | None:
    """The gRPC status behind ``exc`` (aetcd wraps it, keeping it as the cause)."""
    current: BaseException | None = exc
    while current is not None:
        if isinstance(current, grpc.aio.AioRpcError):
            code: grpc.StatusCode = current.code()
            return code
        current = current.__cause__
    return None


def kind_of(exc: BaseException) -> Kind:
    status = status_of(exc)
    # UNIMPLEMENTED: something answers HTTP/2 there, but it is not etcd; try the next one.
    if status in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.UNIMPLEMENTED):
        return "unreachable"
    if status == grpc.StatusCode.DEADLINE_EXCEEDED:
        return "late"
    return "other"


def reason_of(exc: BaseException) -> str:
    status = status_of(exc)
    text = str(exc) or type(exc).__name__
    if isinstance(exc, grpc.aio.AioRpcError):
        text = exc.details() or text
    if status == grpc.StatusCode.UNIMPLEMENTED:
        return f"not an etcd v3 server ({text})"
    return text


def show_endpoint(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

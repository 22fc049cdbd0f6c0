"""Parsing of ``HOST:PORT`` listen and target addresses (IPv6 as ``[addr]:port``)."""

from __future__ import annotations


def parse_hostport(text: str) -> tuple[str, int]:
    """Split ``"127.0.0.1:9080"`` or ``"[::1]:9080"``; raise ValueError saying what is wrong."""
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or not rest.startswith(":"):
            raise ValueError(f"expected [IPv6]:PORT, got {text!r}")
        port_text = rest[1:]
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep or ":" in host:
            raise ValueError(f"expected HOST:PORT, got {text!r}")
    if not host:
        raise ValueError(f"missing host in {text!r}")
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ValueError(f"port must be a number from 1 to 65535, got {port_text!r} in {text!r}")
    return host, int(port_text)

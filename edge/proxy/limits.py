"""Fixed limits and timeouts of the proxy core, in one place.

Per-route and per-upstream timeouts come from the compiled config (connect, first byte, total;
29 s total by default), and so do the request limits (body size, head size, header count, URL
length: ``RequestLimits``). These bound what the config does not: the client side of a
connection and the memory a single request may hold.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "BODY_BUFFER",
    "DISCARD_LIMIT",
    "HEAD_TIMEOUT",
    "HOUSEKEEPING_INTERVAL",
    "KEEPALIVE_TIMEOUT",
    "UPSTREAM_IDLE_TIMEOUT",
    "WRITE_HIGH_WATER",
]

KEEPALIVE_TIMEOUT: Final = 75.0
"""Seconds an idle client keep-alive connection stays open (nginx's default)."""

HEAD_TIMEOUT: Final = 10.0
"""Seconds a client has to send a complete request head once it started one (408 after)."""

BODY_BUFFER: Final = 256 * 1024
"""Request body bytes held while the upstream connection is being opened; the client is paused
beyond this."""

DISCARD_LIMIT: Final = 1024 * 1024
"""Request body bytes read and dropped after the edge answered early (a 404 to an upload); the
connection is closed instead of reading more."""

UPSTREAM_IDLE_TIMEOUT: Final = 30.0
"""Seconds an idle pooled upstream connection is kept."""

HOUSEKEEPING_INTERVAL: Final = 1.0
"""Seconds between sweeps for idle and stalled connections."""

WRITE_HIGH_WATER: Final = 256 * 1024
"""Write-buffer high-water mark of client and upstream transports: a peer that reads slower than
the other side sends stops reading the other side beyond this (low water: a quarter)."""

GC_THRESHOLDS: Final = (10_000, 20, 20)
"""The cycle collector's thresholds while a proxy serves (CPython's defaults: 700, 10, 10).
Requests in flight keep a few hundred objects alive at any time, so with the defaults a
young-generation pass ran every few dozen requests; this one runs every few hundred, which
saves about 3 µs of CPU per proxied request (``bench/proxy.py``). Garbage without cycles is
freed by reference counting either way."""

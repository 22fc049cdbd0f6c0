"""Request path and host normalization, done once per request before routing.

A path is routed, checked by policies and forwarded in one normalized form, so
``/admin/../public`` cannot reach ``/admin`` past a route's policies nor ``/public/..%2fadmin``
mean one thing to the edge and another to the upstream:

1. percent-encoded *unreserved* characters (``A-Z a-z 0-9 - . _ ~``) are decoded and every
   other escape gets upper-case hex (RFC 3986 §6.2.2.1-2); ``%2F`` stays encoded, so it never
   becomes a segment separator;
2. empty segments are dropped (``//`` becomes ``/``);
3. ``.`` and ``..`` segments are resolved and can never climb above the root (RFC 3986 §5.2.4);
   a dot segment with path parameters (``..;x=1``, which servlet containers read as ``..``)
   counts as a dot segment too, so ``/public/..;/admin`` is ``/admin`` here as well.

A trailing slash is kept. Paths already in normal form (the common case) are returned as they
are after three substring scans.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["normalize_host", "normalize_path"]

_ESCAPE: Final = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def _unescape(found: re.Match[str]) -> str:
    char = chr(int(found.group(1), 16))
    return char if char in _UNRESERVED else "%" + found.group(1).upper()


def _resolve(path: str) -> str:
    """``path`` (starting with ``/``) without empty, ``.`` and ``..`` segments."""
    parts = path.split("/")
    last = len(parts) - 1
    out: list[str] = []
    trailing = False
    for index in range(1, len(parts)):
        segment = parts[index]
        if ";" in segment and segment.partition(";")[0] in (".", ".."):
            segment = segment.partition(";")[0]
        if segment == "" or segment == ".":
            trailing = index == last
        elif segment == "..":
            if out:
                out.pop()
            trailing = index == last
        else:
            out.append(segment)
            trailing = False
    if not out:
        return "/"
    return "/" + "/".join(out) + ("/" if trailing else "")


def normalize_path(path: str) -> str:
    """The normal form of an origin-form request path (the query already split off).

    Anything not starting with ``/`` (``*``) is returned unchanged.
    """
    if not path.startswith("/"):
        return path
    if "%" in path:
        path = _ESCAPE.sub(_unescape, path)
    if "//" in path or "/." in path:
        path = _resolve(path)
    return path


def normalize_host(value: str) -> str:
    """A ``Host`` header value as routes name hosts: lower case, no port, no trailing dot.

    IPv6 literals keep their brackets (``[::1]``), as route hosts write them.
    """
    host = value.strip().lower()
    if host.startswith("["):
        end = host.find("]")
        return host[: end + 1] if end > 0 else host
    name, colon, port = host.rpartition(":")
    if colon and port.isdigit():
        host = name
    return host[:-1] if host.endswith(".") else host

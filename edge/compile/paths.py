"""Parsing of route paths, path templates, host names, rewrite templates and addresses.

Path templates: ``/users/{id}`` or ``/files/{name:int}``; a parameter fills a whole segment and
has a kind, ``str`` (default: one segment), ``int`` (digits), ``uuid`` or ``path`` (the rest of
the path, slashes included; last segment only). Keeping parameters whole-segment is what lets a
radix router index paths segment by segment.

Each parser raises :class:`ValueError` with a plain-language message (no path; the caller
knows where the value came from).
"""

from __future__ import annotations

import ipaddress
import re

from edgeway.common.net import parse_hostport
from edgeway.edge.compile.model import (
    ParamKind,
    PathMatchKind,
    PathPattern,
    PathSegment,
    RewriteTemplate,
)
from edgeway.edge.compile.rules import PARAM_KINDS

__all__ = [
    "conflict_key",
    "parse_address",
    "parse_host",
    "parse_path",
    "parse_rewrite",
]

_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::([A-Za-z]+))?\}")
_LABEL = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)")
_FORBIDDEN = re.compile(r"[\s?#\x00-\x1f\x7f]")


def _parse_segment(text: str, seen: set[str], last: bool) -> PathSegment:
    if "{" not in text and "}" not in text:
        return PathSegment(literal=text)
    found = _PARAM.fullmatch(text)
    if found is None:
        raise ValueError(
            f"segment {text!r} is not a parameter: a parameter fills a whole segment and is "
            "written {name} or {name:kind}, the name letters, digits and '_'"
        )
    name, kind = found.group(1), found.group(2) or "str"
    if kind not in PARAM_KINDS:
        raise ValueError(
            f"parameter {name!r} has kind {kind!r}: must be one of str, int, uuid, path"
        )
    if name in seen:
        raise ValueError(f"parameter {name!r} is used twice")
    if kind == "path" and not last:
        raise ValueError(f"parameter {{{name}:path}} takes the rest of the path: it must be last")
    seen.add(name)
    param_kind: ParamKind = kind  # type: ignore[assignment]
    return PathSegment(param=name, kind=param_kind)


def parse_path(text: str, match_kind: PathMatchKind) -> PathPattern:
    """A route path for ``match_kind`` ("prefix", "exact" or "regex")."""
    if match_kind == "regex":
        try:
            regex = re.compile(text)
        except re.error as exc:
            raise ValueError(f"is not a valid regular expression: {exc}") from None
        return PathPattern(text, "regex", (), tuple(regex.groupindex), regex)
    if not text.startswith("/"):
        raise ValueError(f"must start with '/' (got {text!r})")
    if _FORBIDDEN.search(text):
        raise ValueError("must not contain spaces, control characters, '?' or '#'")
    raw = text[1:].split("/")
    if any(part == "" for part in raw[:-1]):
        raise ValueError("must not contain an empty segment ('//')")
    seen: set[str] = set()
    segments = tuple(
        _parse_segment(part, seen, index == len(raw) - 1) for index, part in enumerate(raw)
    )
    params = tuple(seg.param for seg in segments if seg.param is not None)
    return PathPattern(text, match_kind, segments, params)


def conflict_key(pattern: PathPattern) -> str:
    """The path as the router sees it: parameter names do not matter, kinds do."""
    if pattern.match_kind == "regex":
        return "regex:" + pattern.source
    shape = "/".join(
        seg.literal if seg.param is None else f"{{:{seg.kind}}}" for seg in pattern.segments
    )
    return f"{pattern.match_kind}:/{shape}"


def parse_rewrite(text: str) -> RewriteTemplate:
    """A ``rewrite_path``: starts with ``/``, may use ``{name}`` parameters anywhere."""
    if not text.startswith("/"):
        raise ValueError(f"must start with '/' (got {text!r})")
    if _FORBIDDEN.search(text):
        raise ValueError("must not contain spaces, control characters, '?' or '#'")
    parts: list[tuple[str, str | None]] = []
    position = 0
    for found in re.finditer(r"\{([^{}]*)\}", text):
        literal = text[position : found.start()]
        if "{" in literal or "}" in literal:
            raise ValueError("has an unbalanced '{' or '}'")
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", found.group(1)):
            raise ValueError(f"{found.group(0)!r} is not a parameter: write {{name}}")
        if literal:
            parts.append((literal, None))
        parts.append(("", found.group(1)))
        position = found.end()
    tail = text[position:]
    if "{" in tail or "}" in tail:
        raise ValueError("has an unbalanced '{' or '}'")
    if tail:
        parts.append((tail, None))
    return RewriteTemplate(text, tuple(parts))


def _check_hostname(host: str) -> None:
    """A DNS name (letters, digits, '-' and '_' per label) or an IP address."""
    if host.startswith("[") and host.endswith("]"):
        ipaddress.IPv6Address(host[1:-1])  # raises ValueError
        return
    labels = host.split(".")
    if len(host) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise ValueError(f"{host!r} is not a valid host name")


def parse_host(text: str) -> tuple[str, bool]:
    """A route host, lower case: ``(name, False)`` or, for ``*.example.com``,
    ``(".example.com", True)``."""
    host = text.lower()
    if host == "*":
        raise ValueError("'*' is not a host: leave hosts empty to match any host")
    wildcard = host.startswith("*.")
    name = host[2:] if wildcard else host
    if "*" in name:
        raise ValueError("a wildcard may only be a leading '*.' (like *.example.com)")
    if ":" in name and not name.startswith("["):
        raise ValueError("must be a host name without a port (like api.example.com)")
    try:
        _check_hostname(name)
    except ValueError:
        raise ValueError(
            f"{text!r} is not a host name like api.example.com or a wildcard like *.example.com"
        ) from None
    return ("." + name if wildcard else name), wildcard


def parse_address(text: str) -> tuple[str, int]:
    """A target or plugin endpoint: ``host:port`` or ``[ipv6]:port``, port 1-65535."""
    host, port = parse_hostport(text)
    if text.startswith("["):
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"{host!r} is not an IPv6 address (in {text!r})") from None
        return host, port
    _check_hostname(host.lower())
    return host, port

"""Value templates of the transform and redirect policies, compiled once per config version.

A template is text with references ``$(...)`` to the request, resolved per request:

=====================  ======================================================
``$(param.NAME)``      route path parameter ``NAME`` (``/users/{id}``)
``$(header.NAME)``     request header ``NAME`` (case-insensitive)
``$(query.NAME)``      first value of query parameter ``NAME``
``$(consumer.name)``   the authenticated consumer (empty when none)
``$(claim.NAME)``      claim ``NAME`` of a verified JWT (empty when none)
``$(request_id)``, ``$(route_id)``, ``$(client_ip)``, ``$(method)``, ``$(path)``, ``$(host)``
=====================  ======================================================

A missing value renders as the empty string. Stage variables need no runtime reference:
``${stage.NAME}`` in any policy string is substituted when the config is deployed to a stage.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from edgeway.edge.policies.base import Request

__all__ = ["Template", "compile_template", "template_problems"]

_REFERENCE = re.compile(r"\$\(([^()]*)\)")
_NAME = re.compile(r"[A-Za-z0-9_.~-]{1,128}")
Getter = Callable[[Request], str]


def _param(name: str) -> Getter:
    return lambda r: r.params.get(name, "")


def _header(name: str) -> Getter:
    lower = name.lower()
    return lambda r: r.headers.get(lower, "")


def _query(name: str) -> Getter:
    def get(r: Request) -> str:
        values = r.query_params.get(name)
        return values[0] if values else ""

    return get


def _claim(name: str) -> Getter:
    def get(r: Request) -> str:
        claims = r.context.get("jwt.claims")
        value = claims.get(name) if isinstance(claims, dict) else None
        return "" if value is None else str(value)

    return get


def _consumer_name(r: Request) -> str:
    consumer = r.consumer
    return consumer.name if consumer is not None else ""


_SIMPLE: dict[str, Getter] = {
    "request_id": lambda r: r.request_id,
    "route_id": lambda r: r.route_id,
    "client_ip": lambda r: r.client_ip,
    "method": lambda r: r.method,
    "path": lambda r: r.path,
    "host": lambda r: r.host,
    "consumer.name": _consumer_name,
}
_KINDS: dict[str, Callable[[str], Getter]] = {
    "param": _param, "header": _header, "query": _query, "claim": _claim,
}  # fmt: skip


def _getter(reference: str) -> Getter | str:
    """The getter of ``reference`` (the text inside ``$(...)``), or a problem in words."""
    simple = _SIMPLE.get(reference)
    if simple is not None:
        return simple
    kind, dot, name = reference.partition(".")
    factory = _KINDS.get(kind)
    if factory is None or not dot:
        known = ", ".join([*(f"{k}.NAME" for k in _KINDS), *_SIMPLE])
        return f"unknown reference $({reference}) (known: {known})"
    if not _NAME.fullmatch(name):
        return f"$({reference}): a name of letters, digits, '.', '_', '~' or '-' is expected"
    return factory(name)


@dataclass(frozen=True, slots=True)
class Template:
    """A compiled template: literal pieces and getters, in order."""

    source: str
    parts: tuple[str | Getter, ...]
    constant: bool

    def render(self, request: Request) -> str:
        if self.constant:
            return self.source
        return "".join(p if isinstance(p, str) else p(request) for p in self.parts)


def compile_template(source: str) -> Template:
    """``source`` compiled (a valid template: see :func:`template_problems`)."""
    parts: list[str | Getter] = []
    last = 0
    for found in _REFERENCE.finditer(source):
        if found.start() > last:
            parts.append(source[last : found.start()])
        getter = _getter(found.group(1))
        if isinstance(getter, str):
            raise ValueError(getter)
        parts.append(getter)
        last = found.end()
    if last < len(source):
        parts.append(source[last:])
    return Template(source, tuple(parts), all(isinstance(p, str) for p in parts))


def template_problems(source: str) -> Iterator[str]:
    """What is wrong with the references of ``source``, in words."""
    for found in _REFERENCE.finditer(source):
        getter = _getter(found.group(1))
        if isinstance(getter, str):
            yield getter
    if "$(" in _REFERENCE.sub("", source):
        yield "an unclosed $( reference"

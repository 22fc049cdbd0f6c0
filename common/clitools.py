"""click parameter callbacks shared by the ``edgeway`` role commands."""

from __future__ import annotations

import click

from edgeway.common.net import parse_hostport


def hostport(ctx: click.Context, param: click.Parameter, value: str) -> tuple[str, int]:
    """A ``HOST:PORT`` option value, or a usage error saying what is wrong with it."""
    try:
        return parse_hostport(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def endpoint_list(ctx: click.Context, param: click.Parameter,
                  value: str | None) -> tuple[str, ...]:
    """A comma-separated list of ``HOST:PORT`` (``http://`` allowed); may be empty."""
    endpoints = tuple(e.strip() for e in (value or "").split(",") if e.strip())
    for endpoint in endpoints:
        try:
            parse_hostport(endpoint.removeprefix("http://"))
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None
    return endpoints

"""Reading admin API input: JSON bodies, path and query parameters, with errors that name them."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from edgeway.controlplane.admin.errors import ApiError

MAX_TEXT = 2000


async def read_json_object(request: web.Request, fields: dict[str, type],
                           required: tuple[str, ...] = ()) -> dict[str, Any]:
    """The request's JSON object body, checked against ``fields`` (name -> expected type)."""
    raw = await request.read()
    if not raw.strip():
        if required:
            raise ApiError(400, "invalid_request", f"request body must be a JSON object with "
                           f"{', '.join(repr(r) for r in required)}")
        return {}
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "invalid_json", f"request body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_request", "request body must be a JSON object")
    problems = [f"unknown field {k!r} (allowed: {', '.join(sorted(fields))})"
                for k in data if k not in fields]
    problems += [f"missing field {r!r}" for r in required if data.get(r) is None]
    for name, expected in fields.items():
        value = data.get(name)
        if value is None:
            continue
        if expected is int and (not isinstance(value, int) or isinstance(value, bool)):
            problems.append(f"field {name!r} must be an integer, got {type(value).__name__}")
        elif expected is not int and not isinstance(value, expected):
            problems.append(f"field {name!r} must be of type {_json_type(expected)}, "
                            f"got {_json_type(type(value))}")
        elif isinstance(value, str) and len(value) > MAX_TEXT:
            problems.append(f"field {name!r} is longer than {MAX_TEXT} characters")
    if problems:
        raise ApiError(400, "invalid_request", "; ".join(problems))
    return data


def _json_type(t: type) -> str:
    return {str: "string", int: "integer", dict: "object", list: "array",
            bool: "boolean", float: "number"}.get(t, t.__name__)


def positive_int(value: str | None, what: str, *, default: int | None = None,
                 maximum: int | None = None) -> int | None:
    """Parse a path or query parameter that must be a positive integer."""
    if value is None or value == "":
        return default
    if not value.isdigit() or int(value) < 1:
        raise ApiError(400, "invalid_request", f"{what} must be a positive integer, got {value!r}")
    number = int(value)
    if maximum is not None and number > maximum:
        raise ApiError(400, "invalid_request", f"{what} must be at most {maximum}, got {number}")
    return number


def require_int(value: str, what: str) -> int:
    number = positive_int(value, what)
    assert number is not None
    return number


def author_of(request: web.Request, body: dict[str, Any] | None = None) -> str:
    """Who performs the operation: body ``author``, ``author`` query, X-Edgeway-Author header."""
    author = (body or {}).get("author") or request.query.get("author") or request.headers.get(
        "X-Edgeway-Author") or "anonymous"
    if len(author) > 200:
        raise ApiError(400, "invalid_request", "author is longer than 200 characters")
    return str(author)


def text_param(request: web.Request, name: str, body: dict[str, Any] | None = None) -> str:
    value = (body or {}).get(name) or request.query.get(name) or ""
    if len(value) > MAX_TEXT:
        raise ApiError(400, "invalid_request", f"{name} is longer than {MAX_TEXT} characters")
    return str(value)

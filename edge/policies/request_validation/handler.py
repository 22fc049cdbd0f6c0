"""Handler of the ``request-validation`` policy: every violation, in one 400.

Parameter rules become small checker functions and the body schema a validator, all in
``__init__``; a request collects ``{"in", "name", "message"}`` violations from each.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from jsonschema import Draft202012Validator

from edgeway.edge.policies._messages import describe
from edgeway.edge.policies._responses import problem_response
from edgeway.edge.policies.base import Exchange, Outcome, Phase, PolicyHandler

__all__ = ["RequestValidationHandler", "parameter_check"]

Violation = dict[str, str]
Checker = Callable[[str], str | None]
_INTEGER = re.compile(r"[+-]?[0-9]+")


def _parse(kind: str, text: str) -> tuple[Any, str | None]:
    """``text`` as a ``kind`` value, or a problem."""
    if kind == "integer":
        return (int(text), None) if _INTEGER.fullmatch(text) else (None, "must be an integer")
    if kind == "number":
        try:
            value = float(text)
        except ValueError:
            return None, "must be a number"
        return value, None
    if kind == "boolean":
        lowered = text.lower()
        if lowered in ("true", "false"):
            return lowered == "true", None
        return None, "must be true or false"
    return text, None


def parameter_check(rules: Mapping[str, Any]) -> Checker:
    """A function judging one parameter value by ``rules`` (None: fine)."""
    kind = rules.get("type", "string")
    accepted = frozenset(rules["enum"]) if "enum" in rules else None
    pattern = re.compile(rules["pattern"]) if "pattern" in rules else None
    low, high = rules.get("minimum"), rules.get("maximum")
    shortest, longest = rules.get("min_length"), rules.get("max_length")

    def check(text: str) -> str | None:
        value, problem = _parse(kind, text)
        if problem is not None:
            return problem
        if accepted is not None and text not in accepted:
            return "must be one of " + ", ".join(sorted(accepted))
        if pattern is not None and pattern.fullmatch(text) is None:
            return f"must match {pattern.pattern}"
        if shortest is not None and len(text) < shortest:
            return f"must be at least {shortest} characters long"
        if longest is not None and len(text) > longest:
            return f"must be at most {longest} characters long"
        if low is not None and value < low:
            return f"must be at least {low:g}"
        if high is not None and value > high:
            return f"must be at most {high:g}"
        return None

    return check


class RequestValidationHandler(PolicyHandler):
    """Refuses invalid requests with every violation listed (see the module docstring)."""

    NAME: ClassVar[str] = "request-validation"
    VERSION: ClassVar[str] = "1.0.0"
    PHASE: ClassVar[Phase] = Phase.VALIDATION
    PRIORITY: ClassVar[int] = 900

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)
        self.query = tuple((n, bool(r.get("required", False)),
                            parameter_check(r)) for n, r in config["query"].items())  # fmt: skip
        self.headers = tuple((n.lower(), bool(r.get("required", False)), parameter_check(r))
                             for n, r in config["headers"].items())  # fmt: skip
        self.known_query = frozenset(config["query"])
        self.allow_unknown = bool(config["allow_unknown_query"])
        self.body: Draft202012Validator | None = None
        if "body_schema" in config:
            self.body = Draft202012Validator(_thaw(config["body_schema"]))
            self.buffer_request_body = int(config["max_body_bytes"])
        self.body_required = bool(config["body_required"])
        self.content_types = frozenset(t.lower() for t in config["content_types"])

    def on_request(self, exchange: Exchange) -> Outcome:
        found: list[Violation] = []
        if self.query or not self.allow_unknown:
            params = exchange.query_params
            for name, required, check in self.query:
                values = params.get(name)
                if not values:
                    if required:
                        found.append({"in": "query", "name": name, "message": "is required"})
                    continue
                for value in values:
                    problem = check(value)
                    if problem is not None:
                        found.append({"in": "query", "name": name, "message": problem})
            if not self.allow_unknown:
                found.extend({"in": "query", "name": name, "message": "is not accepted"}
                             for name in params if name not in self.known_query)  # fmt: skip
        if self.headers:
            headers = exchange.headers
            for name, required, check in self.headers:
                header = headers.get(name)
                if header is None:
                    if required:
                        found.append({"in": "header", "name": name, "message": "is required"})
                    continue
                problem = check(header)
                if problem is not None:
                    found.append({"in": "header", "name": name, "message": problem})
        if self.body is not None:
            found.extend(self._body(exchange))
        if not found:
            return None
        count = len(found)
        message = f"the request is not valid ({count} problem{'s' if count > 1 else ''})"
        return problem_response(400, "invalid_request", message, errors=found)

    def _body(self, exchange: Exchange) -> list[Violation]:
        assert self.body is not None
        body = exchange.body or b""
        if not body.strip():
            if self.body_required:
                return [{"in": "body", "name": "", "message": "a JSON body is required"}]
            return []
        media = exchange.headers.get("content-type", "").partition(";")[0].strip().lower()
        if media not in self.content_types:
            allowed = ", ".join(sorted(self.content_types))
            return [{"in": "body", "name": "", "message": f"content-type must be {allowed}"}]
        try:
            data = json.loads(body)
        except ValueError as exc:
            return [{"in": "body", "name": "", "message": f"is not valid JSON: {exc}"}]
        return [
            {"in": "body", "name": ".".join(str(p) for p in path), "message": message}
            for error in self.body.iter_errors(data)
            for path, message in describe(error)
        ]


def _thaw(value: Any) -> Any:
    """Frozen config data back to plain dicts and lists (the validator wants JSON types)."""
    if isinstance(value, Mapping):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    return value

"""Operations of the request- and response-transform policies, compiled once per version.

Each section (headers, query, body) lists operations applied in Kong's order: ``remove``,
``rename``, ``replace`` (only when present), ``add`` (only when absent). Values are templates
(:mod:`._templates`); a body value may also be any JSON value (strings are templates). Body
fields may be dotted paths into nested objects (``user.id``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from edgeway.edge.policies._schema import END, HEADER_NAME, array, mapping, obj, string
from edgeway.edge.policies._templates import Template, compile_template, template_problems
from edgeway.edge.policies.base import Request

__all__ = ["HeaderTarget", "Operations", "apply_headers", "apply_json", "compile_operations",
           "operation_problems", "operations_schema"]  # fmt: skip

_FIELD = r"^[A-Za-z0-9_$@-]+(\.[A-Za-z0-9_$@-]+)*" + END
_QUERY = r"^[^\x00-\x20&=#]+" + END
NAME_PATTERNS = {"headers": HEADER_NAME, "query": _QUERY, "body": _FIELD}
_VALUE = string("A value; may use $(...) templates.", max_length=4096, min_length=0)


def operations_schema(section: str, what: str) -> dict[str, Any]:
    """The schema of one section (``headers``, ``query`` or ``body``)."""
    pattern = NAME_PATTERNS[section]
    name = string(f"A {what} name.", max_length=256, pattern=pattern,
                  pattern_message=f"must be a {what} name")  # fmt: skip
    value: dict[str, Any] = _VALUE
    if section == "body":
        value = {"description": "A JSON value; strings may use $(...) templates.",
                 "type": ["string", "number", "boolean", "object", "array", "null"]}
    return obj(f"Changes to {what}s, applied in the order remove, rename, replace, add.", {
        "remove": array(f"{what.capitalize()}s to remove.", name, max_items=64, default=[]),
        "rename": mapping(f"{what.capitalize()}s to rename: old name to new name.", name,
                          max_properties=64, key_pattern=pattern, default={}),
        "replace": mapping(f"New values of {what}s, set only when present.", value,
                           max_properties=64, key_pattern=pattern, default={}),
        "add": mapping(f"{what.capitalize()}s to add, only when absent.", value,
                       max_properties=64, key_pattern=pattern, default={}),
    }, default={})  # fmt: skip


Value = Template | Any


@dataclass(frozen=True, slots=True)
class Operations:
    remove: tuple[str, ...] = ()
    rename: tuple[tuple[str, str], ...] = ()
    replace: tuple[tuple[str, Value], ...] = ()
    add: tuple[tuple[str, Value], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.remove or self.rename or self.replace or self.add)


def _value(value: Any) -> Value:
    return compile_template(value) if isinstance(value, str) else value


def render(value: Value, request: Request) -> Any:
    return value.render(request) if isinstance(value, Template) else value


def compile_operations(section: Mapping[str, Any] | None, lower: bool = False) -> Operations:
    """The operations of a valid section (names lower-cased for headers)."""
    if not section:
        return Operations()
    fix: Callable[[str], str] = str.lower if lower else str
    return Operations(
        remove=tuple(fix(n) for n in section.get("remove", ())),
        rename=tuple((fix(a), fix(b)) for a, b in section.get("rename", {}).items()),
        replace=tuple((fix(n), _value(v)) for n, v in section.get("replace", {}).items()),
        add=tuple((fix(n), _value(v)) for n, v in section.get("add", {}).items()),
    )


def operation_problems(config: Mapping[str, Any], sections: tuple[str, ...]
                       ) -> Iterator[tuple[str, str]]:  # fmt: skip
    """Unknown or malformed ``$(...)`` references in any value of ``sections``."""
    for section in sections:
        for op in ("replace", "add"):
            for name, value in config.get(section, {}).get(op, {}).items():
                if isinstance(value, str):
                    for problem in template_problems(value):
                        yield f"{section}.{op}.{name}", problem


class HeaderTarget(Protocol):
    """What header operations change: the upstream request (an ``Exchange``) or the response."""

    @property
    def headers(self) -> Mapping[str, str]: ...

    def set_header(self, name: str, value: str) -> None: ...

    def remove_header(self, name: str) -> None: ...


def apply_headers(ops: Operations, target: HeaderTarget, request: Request) -> None:
    """Remove, rename, replace (only present ones) and add (only missing ones) headers of
    ``target``, in that order; templates render against ``request``."""
    for name in ops.remove:
        target.remove_header(name)
    for old, new in ops.rename:
        value = target.headers.get(old)
        if value is not None:
            target.remove_header(old)
            target.set_header(new, value)
    for name, template in ops.replace:
        if name in target.headers:
            target.set_header(name, str(render(template, request)))
    for name, template in ops.add:
        if name not in target.headers:
            target.set_header(name, str(render(template, request)))


def _walk(data: dict[str, Any], path: str, create: bool) -> tuple[dict[str, Any] | None, str]:
    *parents, last = path.split(".")
    node: Any = data
    for part in parents:
        child = node.get(part)
        if not isinstance(child, dict):
            if not create or child is not None:
                return None, last
            child = node[part] = {}
        node = child
    return node, last


def apply_json(ops: Operations, body: bytes, request: Request) -> bytes | None:
    """``body`` (a JSON object) changed by ``ops``; ``None`` when it is not a JSON object."""
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    for path in ops.remove:
        node, last = _walk(data, path, False)
        if node is not None:
            node.pop(last, None)
    for old, new in ops.rename:
        node, last = _walk(data, old, False)
        if node is not None and last in node:
            value = node.pop(last)
            target, new_last = _walk(data, new, True)
            if target is not None:
                target[new_last] = value
    for path, value in ops.replace:
        node, last = _walk(data, path, False)
        if node is not None and last in node:
            node[last] = render(value, request)
    for path, value in ops.add:
        node, last = _walk(data, path, True)
        if node is not None and last not in node:
            node[last] = render(value, request)
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()

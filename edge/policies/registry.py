"""The registry of built-in policies: discovered once, checked, sorted, validators cached.

Every subpackage of :mod:`edgeway.edge.policies` is a policy (see :mod:`.base` for what it
exposes). Loading refuses a policy that misses its name, version, phase, priority, handler or
schema, whose schema is not a valid draft 2020-12 schema, or whose name is taken; like APISIX's
loader, it refuses at start-up rather than at the first request. Each policy's JSON Schema
validator is built once, when the registry is built, and reused for every config version.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from edgeway.edge.policies._messages import Problem, describe
from edgeway.edge.policies.base import (
    Check,
    ConfigNames,
    Phase,
    PolicyHandler,
    Reference,
    freeze,
)

__all__ = [
    "PolicyLoadError",
    "PolicyRegistry",
    "PolicySpec",
    "builtin_registry",
    "field_path",
    "spec_from_module",
]

NAME_PATTERN = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")
"""Policy names are lower-case words joined by '-' ("request-termination")."""


class PolicyLoadError(Exception):
    """A policy package is malformed or clashes with another; the message says how."""


@dataclass(frozen=True, slots=True, eq=False)
class PolicySpec:
    """One built-in policy: its declarations, schema, cross-field checks and validator."""

    name: str
    version: str
    phase: Phase
    priority: int
    handler: type[PolicyHandler]
    schema: Mapping[str, Any]
    checks: tuple[Check, ...] = ()
    references: tuple[Reference, ...] = ()
    validator: Draft202012Validator = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "validator", Draft202012Validator(self.schema))

    def validate(self, config: Mapping[str, Any], names: ConfigNames | None = None
                 ) -> list[Problem]:  # fmt: skip
        """Every problem of ``config`` as ``(path inside the config, message)``, in path order.

        Cross-field checks run only when the schema accepts the config; the rules about names
        (``REFERENCES``) only when ``names`` (the gateway config's) are given, too.
        """
        problems = [p for error in self.validator.iter_errors(config) for p in describe(error)]
        if not problems:
            for check in self.checks:
                problems.extend((field_path(name), message) for name, message in check(config))
            if names is not None:
                for reference in self.references:
                    problems.extend((field_path(name), message)
                                    for name, message in reference(config, names))  # fmt: skip
        return sorted(problems, key=lambda p: [str(part) for part in p[0]])

    def with_defaults(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """``config`` with the schema's top-level defaults filled in where a field is absent."""
        result = dict(config)
        for name, prop in self.schema.get("properties", {}).items():
            if name not in result and isinstance(prop, Mapping) and "default" in prop:
                result[name] = prop["default"]
        return result

    def build(self, config: Mapping[str, Any]) -> PolicyHandler:
        """A handler for a valid ``config`` (defaults filled in, made read-only)."""
        return self.handler(freeze(self.with_defaults(config)))


_MISSING = object()
_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def field_path(field: str) -> tuple[str | int, ...]:
    """The parts of a check's field, written like ``origins[2]`` or ``query.page.pattern``."""
    return tuple(int(index) if index else name for name, index in _PART.findall(field))


def spec_from_module(module: ModuleType) -> PolicySpec:
    """The :class:`PolicySpec` a policy package declares; :class:`PolicyLoadError` says what
    is missing or wrong."""
    label = module.__name__
    handler: Any = getattr(module, "HANDLER", _MISSING)
    schema: Any = getattr(module, "SCHEMA", _MISSING)
    declared: dict[str, Any] = {
        attr: getattr(handler, attr, _MISSING) for attr in ("NAME", "VERSION", "PHASE", "PRIORITY")
    }
    missing = [attr.lower() for attr, value in declared.items() if value is _MISSING]
    if handler is _MISSING:
        missing.insert(0, "handler (HANDLER)")
    if schema is _MISSING:
        missing.append("schema (SCHEMA)")
    if missing:
        raise PolicyLoadError(f"policy {label!r} is missing: {', '.join(missing)}")
    wrong = _wrong_declarations(handler, schema, declared)
    if wrong:
        raise PolicyLoadError(f"policy {label!r} is malformed: {'; '.join(wrong)}")
    name: str = declared["NAME"]
    package = label.rpartition(".")[2]
    if package != name.replace("-", "_"):
        message = f"policy {label!r} declares NAME {name!r}; its package must be named"
        raise PolicyLoadError(f"{message} {name.replace('-', '_')!r}")
    checks = getattr(module, "CHECKS", ())
    if not isinstance(checks, tuple) or not all(callable(c) for c in checks):
        raise PolicyLoadError(f"policy {label!r} is malformed: CHECKS must be a tuple of functions")
    references = getattr(module, "REFERENCES", ())
    if not isinstance(references, tuple) or not all(callable(r) for r in references):
        raise PolicyLoadError(
            f"policy {label!r} is malformed: REFERENCES must be a tuple of functions")
    return PolicySpec(
        name=name,
        version=declared["VERSION"],
        phase=declared["PHASE"],
        priority=declared["PRIORITY"],
        handler=handler,
        schema=schema,
        checks=checks,
        references=references,
    )


def _wrong_declarations(handler: Any, schema: Any, declared: dict[str, Any]) -> list[str]:
    wrong: list[str] = []
    if not (isinstance(handler, type) and issubclass(handler, PolicyHandler)):
        wrong.append("HANDLER must be a PolicyHandler subclass")
    name = declared["NAME"]
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        wrong.append(f"name must be lower-case words joined by '-', got {name!r}")
    if not isinstance(declared["VERSION"], str) or not declared["VERSION"]:
        wrong.append(f"version must be a non-empty string, got {declared['VERSION']!r}")
    if not isinstance(declared["PHASE"], Phase):
        wrong.append(f"phase must be a Phase, got {declared['PHASE']!r}")
    priority = declared["PRIORITY"]
    if not isinstance(priority, int) or isinstance(priority, bool):
        wrong.append(f"priority must be an integer, got {priority!r}")
    if not isinstance(schema, dict):
        wrong.append("schema must be a dict")
        return wrong
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        wrong.append(f"schema is not a valid JSON Schema: {exc.message}")
    if schema.get("type") != "object" or schema.get("additionalProperties") is not False:
        wrong.append('schema must be {"type": "object", "additionalProperties": false, ...}')
    return wrong


class PolicyRegistry:
    """Built-in policies by name, sorted once by phase, then priority (higher first)."""

    def __init__(self, specs: Iterable[PolicySpec]) -> None:
        by_name: dict[str, PolicySpec] = {}
        for spec in specs:
            if spec.name in by_name:
                raise PolicyLoadError(f"policy name {spec.name!r} is declared twice")
            by_name[spec.name] = spec
        ordered = sorted(by_name.values(), key=lambda s: (s.phase.rank, -s.priority, s.name))
        self._specs: tuple[PolicySpec, ...] = tuple(ordered)
        self._by_name: dict[str, PolicySpec] = {spec.name: spec for spec in ordered}

    @classmethod
    def from_modules(cls, modules: Iterable[ModuleType]) -> PolicyRegistry:
        """A registry of the policies ``modules`` declare (see :func:`spec_from_module`)."""
        return cls(spec_from_module(module) for module in modules)

    def get(self, name: str) -> PolicySpec | None:
        """The policy called ``name``, or ``None``."""
        return self._by_name.get(name)

    def names(self) -> tuple[str, ...]:
        """Policy names in execution order (phase, then priority)."""
        return tuple(spec.name for spec in self._specs)

    def validator(self, name: str) -> Draft202012Validator:
        """The cached schema validator of policy ``name`` (``KeyError`` when unknown)."""
        return self._by_name[name].validator

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __iter__(self) -> Iterator[PolicySpec]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)


def discover(package: ModuleType) -> list[ModuleType]:
    """Import every subpackage of ``package`` (those not starting with ``_``)."""
    return [
        importlib.import_module(f"{package.__name__}.{info.name}")
        for info in pkgutil.iter_modules(package.__path__)
        if info.ispkg and not info.name.startswith("_")
    ]


@functools.cache
def builtin_registry() -> PolicyRegistry:
    """The registry of the policies shipped in :mod:`edgeway.edge.policies`, built once."""
    package = importlib.import_module("edgeway.edge.policies")
    return PolicyRegistry.from_modules(discover(package))

"""What changed between two configs, as plain JSON-serializable data.

Each collection is keyed by what names its items: routes by ``id``; upstreams, consumers,
usage plans and plugins by ``name``; global policies by ``name`` (the second ``cors`` instance
is ``cors#2``, so inserting one policy does not mark every later one as changed); variables by
key; stage variables by stage. When a key occurs twice in one config (an invalid config, but
the diff still works) the repeats are ``name#2``, ``name#3``...

    {"routes": {"added": ["orders"], "removed": [], "changed": ["users"],
                "details": {"users": ["paths", "upstream"]}}}

``details`` names the top-level fields that changed in each changed item (for a stage, the
variables that changed). Collections without changes are left out, so two equal configs diff
to ``{}``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TypedDict, TypeVar

from google.protobuf.message import Message

from edgeway.v1.config_pb2 import GatewayConfig

__all__ = ["CollectionDiff", "diff_configs"]

_T = TypeVar("_T")


class CollectionDiff(TypedDict):
    """The changes in one collection; every list is sorted."""

    added: list[str]
    removed: list[str]
    changed: list[str]
    details: dict[str, list[str]]


def _keyed(items: Iterable[_T], key: Callable[[_T], str]) -> dict[str, _T]:
    """Items by key; a repeated key gets ``#2``, ``#3``... in order of appearance."""
    result: dict[str, _T] = {}
    counts: dict[str, int] = {}
    for item in items:
        name = key(item)
        counts[name] = counts.get(name, 0) + 1
        result[name if counts[name] == 1 else f"{name}#{counts[name]}"] = item
    return result


def _changed_fields(old: Message, new: Message) -> list[str]:
    before = {field.name: value for field, value in old.ListFields()}
    after = {field.name: value for field, value in new.ListFields()}
    names = before.keys() | after.keys()
    return sorted(name for name in names if before.get(name) != after.get(name))


def _changed_keys(old: Mapping[str, str], new: Mapping[str, str]) -> list[str]:
    return sorted(name for name in old.keys() | new.keys() if old.get(name) != new.get(name))


def _compare(
    old: Mapping[str, _T],
    new: Mapping[str, _T],
    details: Callable[[_T, _T], list[str]] | None,
) -> CollectionDiff | None:
    changed = sorted(name for name in old.keys() & new.keys() if old[name] != new[name])
    result = CollectionDiff(
        added=sorted(new.keys() - old.keys()),
        removed=sorted(old.keys() - new.keys()),
        changed=changed,
        details={},
    )
    if details is not None:
        result["details"] = {name: details(old[name], new[name]) for name in changed}
    if result["added"] or result["removed"] or changed:
        return result
    return None


def diff_configs(old: GatewayConfig, new: GatewayConfig) -> dict[str, CollectionDiff]:
    """The added, removed and changed items of every collection that differs."""
    result: dict[str, CollectionDiff] = {}

    def add(name: str, diff: CollectionDiff | None) -> None:
        if diff is not None:
            result[name] = diff

    def by_name(message: Message) -> str:
        return str(getattr(message, "name"))  # noqa: B009 - every keyed message has a name

    add(
        "routes",
        _compare(
            _keyed(old.routes, lambda r: r.id), _keyed(new.routes, lambda r: r.id), _changed_fields
        ),
    )
    for collection in ("upstreams", "consumers", "usage_plans", "plugins", "policies"):
        before = _keyed(getattr(old, collection), by_name)
        after = _keyed(getattr(new, collection), by_name)
        add(collection, _compare(before, after, _changed_fields))
    add("variables", _compare(dict(old.variables), dict(new.variables), None))
    add(
        "stage_variables",
        _compare(
            {stage: dict(values.values) for stage, values in old.stage_variables.items()},
            {stage: dict(values.values) for stage, values in new.stage_variables.items()},
            _changed_keys,
        ),
    )
    return result

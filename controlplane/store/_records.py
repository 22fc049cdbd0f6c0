"""Where the store's records live in etcd and how they are encoded (see ``etcd.py`` for the map).

Records are compact JSON (sorted keys, UTF-8) so ``etcdctl get`` shows them readably; numbers in
keys are zero-padded to 10 digits so that key order is numeric order. A record that does not
decode raises :class:`StoreError` naming its key, never a bare ``KeyError``/``ValueError``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from edgeway.controlplane.store.api import (
    Deployment,
    DeploymentAction,
    Stage,
    StoreError,
    VersionMeta,
)

MAX_NUMBER = 9_999_999_999  # what fits the 10-digit zero-padded keys
_ACTIONS: dict[str, DeploymentAction] = {
    "deploy": "deploy",
    "promote": "promote",
    "rollback": "rollback",
}


class Keys:
    """Every key of one store, all under ``<prefix>/``."""

    def __init__(self, prefix: str) -> None:
        root = prefix.rstrip("/")
        if not root or any(c.isspace() for c in root):
            raise ValueError(f"etcd key prefix {prefix!r} must be non-empty, without spaces")
        self.prefix = root
        self._root = root.encode()
        self.latest = self._root + b"/meta/latest-version"
        self.versions = self._root + b"/versions/"
        self.chunks = self._root + b"/chunks/"
        self.stages = self._root + b"/stages/"
        self.deployments = self._root + b"/deployments/"
        self.nodes = self._root + b"/nodes/"
        self.nacks = self._root + b"/nacks/"

    def version(self, number: int) -> bytes:
        return self.versions + b"%010d" % number

    def chunk(self, digest: str) -> bytes:
        return self.chunks + digest.encode()

    def stage(self, name: str) -> bytes:
        return self.stages + name.encode()

    def deployments_of(self, stage: str) -> bytes:
        return self.deployments + stage.encode() + b"/"

    def deployment(self, stage: str, number: int) -> bytes:
        return self.deployments_of(stage) + b"%010d" % number

    def node(self, node_id: str) -> bytes:
        return self.nodes + node_id.encode()

    def nack(self, node_id: str) -> bytes:
        return self.nacks + node_id.encode()


# -- JSON ----------------------------------------------------------------------------------


def _dump(data: dict[str, object]) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


class _Reader:
    """Typed field access to one decoded record; errors name the key."""

    def __init__(self, key: bytes, raw: bytes) -> None:
        self.key = key.decode(errors="replace")
        try:
            data = json.loads(raw)
        except (UnicodeDecodeError, ValueError) as exc:
            raise StoreError(f"corrupt record at {self.key}: not JSON ({exc})") from None
        if not isinstance(data, dict):
            raise StoreError(f"corrupt record at {self.key}: not a JSON object")
        self.data: dict[str, Any] = data

    def _bad(self, field: str, expected: str) -> StoreError:
        return StoreError(f"corrupt record at {self.key}: {field!r} is not {expected}")

    def get_int(self, field: str) -> int:
        value = self.data.get(field)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._bad(field, "an integer")
        return value

    def get_opt_int(self, field: str) -> int | None:
        return None if self.data.get(field) is None else self.get_int(field)

    def get_str(self, field: str) -> str:
        value = self.data.get(field)
        if not isinstance(value, str):
            raise self._bad(field, "a string")
        return value

    def get_opt_str(self, field: str) -> str | None:
        return None if self.data.get(field) is None else self.get_str(field)

    def get_float(self, field: str) -> float:
        value = self.data.get(field)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self._bad(field, "a number")
        return float(value)

    def get_str_map(self, field: str) -> dict[str, str]:
        """An optional object of strings (absent: empty)."""
        value = self.data.get(field)
        if value is None:
            return {}
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            raise self._bad(field, "an object of strings")
        return dict(value)

    def get_strs(self, field: str) -> list[str]:
        value = self.data.get(field)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self._bad(field, "a list of strings")
        return list(value)


# -- the latest-version pointer --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Latest:
    number: int
    hash: str


def encode_latest(latest: Latest) -> bytes:
    return _dump({"number": latest.number, "hash": latest.hash})


def decode_latest(key: bytes, raw: bytes) -> Latest:
    record = _Reader(key, raw)
    return Latest(record.get_int("number"), record.get_str("hash"))


# -- versions --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoredVersion:
    """A version's metadata plus where its config is: zlib-compressed, in ``chunks`` order."""

    meta: VersionMeta
    chunks: tuple[str, ...]  # sha256 hex digest of each chunk = its key under <prefix>/chunks/
    stored_size: int  # compressed length


def encode_version(stored: StoredVersion) -> bytes:
    meta = stored.meta
    return _dump({
        "number": meta.number,
        "hash": meta.hash,
        "parent": meta.parent,
        "author": meta.author,
        "message": meta.message,
        "created_at": meta.created_at,
        "size": meta.size,
        "encoding": "zlib",
        "stored_size": stored.stored_size,
        "chunks": list(stored.chunks),
    })


def decode_version(key: bytes, raw: bytes) -> StoredVersion:
    record = _Reader(key, raw)
    if record.data.get("encoding") != "zlib":
        raise StoreError(f"corrupt record at {record.key}: unknown encoding")
    meta = VersionMeta(
        number=record.get_int("number"),
        hash=record.get_str("hash"),
        parent=record.get_opt_int("parent"),
        author=record.get_str("author"),
        message=record.get_str("message"),
        created_at=record.get_float("created_at"),
        size=record.get_int("size"),
    )
    return StoredVersion(meta, tuple(record.get_strs("chunks")), record.get_int("stored_size"))


# -- stages and deployments ------------------------------------------------------------------


def encode_stage(stage: Stage, *, created_by: str | None = None) -> bytes:
    data: dict[str, object] = {
        "name": stage.name,
        "version": stage.version,
        "deployment": stage.deployment,
        "created_at": stage.created_at,
        "updated_at": stage.updated_at,
    }
    if created_by is not None:
        data["created_by"] = created_by
    if stage.trace_context:
        data["trace_context"] = stage.trace_context
    return _dump(data)


def decode_stage(key: bytes, raw: bytes) -> Stage:
    record = _Reader(key, raw)
    return Stage(
        name=record.get_str("name"),
        version=record.get_opt_int("version"),
        deployment=record.get_opt_int("deployment"),
        created_at=record.get_float("created_at"),
        updated_at=record.get_float("updated_at"),
        trace_context=record.get_str_map("trace_context"),
    )


def encode_deployment(deployment: Deployment) -> bytes:
    data = deployment.as_dict()
    data["created_at"] = deployment.created_at
    if deployment.trace_context:
        data["trace_context"] = deployment.trace_context
    return _dump(data)


def decode_deployment(key: bytes, raw: bytes) -> Deployment:
    record = _Reader(key, raw)
    action = _ACTIONS.get(record.get_str("action"))
    if action is None:
        raise StoreError(f"corrupt record at {record.key}: unknown action")
    return Deployment(
        id=record.get_int("id"),
        stage=record.get_str("stage"),
        action=action,
        version=record.get_int("version"),
        previous_version=record.get_opt_int("previous_version"),
        author=record.get_str("author"),
        message=record.get_str("message"),
        created_at=record.get_float("created_at"),
        source_stage=record.get_opt_str("source_stage"),
        rollback_to=record.get_opt_int("rollback_to"),
        trace_context=record.get_str_map("trace_context"),
    )

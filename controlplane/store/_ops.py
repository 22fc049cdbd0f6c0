"""The records and operations of etcd KV calls, as plain typed values (aetcd's are untyped).

:class:`KeyValue` is what a read returns; :class:`Compare`, :class:`Put`, :class:`Get` and
:class:`Delete` make up a transaction (:meth:`EtcdClient.txn`), :class:`TxnResult` is its answer.
Import them from :mod:`.client`, which re-exports them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal


@dataclass(frozen=True, slots=True)
class KeyValue:
    key: bytes
    value: bytes
    create_revision: int
    mod_revision: int
    version: int

    @classmethod
    def _of(cls, kv: Any) -> KeyValue:
        return cls(
            key=bytes(kv.key),
            value=bytes(kv.value),
            create_revision=int(kv.create_revision),
            mod_revision=int(kv.mod_revision),
            version=int(kv.version),
        )


@dataclass(frozen=True, slots=True)
class Compare:
    """One condition of a transaction, e.g. ``Compare(key, "mod", "==", 42)``."""

    key: bytes
    target: Literal["version", "mod", "create", "value"]
    op: Literal["==", "!=", "<", ">"]
    operand: int | bytes


def key_absent(key: bytes) -> Compare:
    return Compare(key, "version", "==", 0)


def key_present(key: bytes) -> Compare:
    return Compare(key, "version", ">", 0)


def unchanged(key: bytes, seen: KeyValue | None) -> Compare:
    """The key is as it was read: same mod revision, or still absent."""
    return key_absent(key) if seen is None else Compare(key, "mod", "==", seen.mod_revision)


def same_revision(a: KeyValue | None, b: KeyValue | None) -> bool:
    """Both absent, or both present at the same mod revision."""
    if a is None or b is None:
        return a is b
    return a.mod_revision == b.mod_revision


@dataclass(frozen=True, slots=True)
class Put:
    key: bytes
    value: bytes
    lease: int = 0  # attach the key to this lease (0: none); it is deleted when the lease ends


@dataclass(frozen=True, slots=True)
class Delete:
    key: bytes


@dataclass(frozen=True, slots=True)
class Get:
    key: bytes


@dataclass(frozen=True, slots=True)
class TxnResult:
    """Whether the compares held, and one result per :class:`Get` of the branch that ran."""

    succeeded: bool
    gets: tuple[KeyValue | None, ...]




def to_compare(client: Any, compare: Compare) -> Any:
    factory = {
        "version": client.transactions.version,
        "mod": client.transactions.mod,
        "create": client.transactions.create,
        "value": client.transactions.value,
    }[compare.target]
    subject = factory(compare.key)
    if compare.op == "==":
        return subject == compare.operand
    if compare.op == "!=":
        return subject != compare.operand
    if compare.op == "<":
        return subject < compare.operand
    return subject > compare.operand


def to_operation(client: Any, operation: Put | Get | Delete) -> Any:
    if isinstance(operation, Put):
        return client.transactions.put(operation.key, operation.value, lease=operation.lease)
    if isinstance(operation, Delete):
        return client.transactions.delete(operation.key)
    return client.transactions.get(operation.key)

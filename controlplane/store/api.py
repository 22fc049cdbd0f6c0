"""What the versioned config store promises: its records, its errors and its interface.

A *version* is an immutable, numbered ``GatewayConfig`` (numbers 1, 2, 3 ... without gaps). A
*stage* points at one version; every change of a stage is a *deployment* record, numbered per
stage (1, 2, 3 ...), whose ``action`` says how it came about: ``deploy`` (a version by number),
``promote`` (the version another stage runs) or ``rollback`` (a version the stage ran before).

Every change of a stage keeps the W3C trace context of the operation that caused it
(``trace_context``), so whichever control-plane replica pushes the change to edges can continue
that trace. :meth:`Store.watch_stages` streams the stages as they change.

Every method is async and bounded by a deadline. Errors are a small tree rooted at
:class:`StoreError`, each with a stable machine ``code``; a failed call changes nothing.
:class:`~edgeway.controlplane.store.etcd.EtcdStore` implements :class:`Store` over etcd.
"""

from __future__ import annotations

import abc
import re
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Literal, Self

from edgeway.v1.config_pb2 import GatewayConfig

__all__ = [
    "STAGE_NAME_RULE",
    "ApplyResult",
    "Conflict",
    "Deployment",
    "DeploymentAction",
    "InvalidName",
    "NotFound",
    "Stage",
    "StageChanges",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "Version",
    "VersionMeta",
    "check_stage_name",
    "iso8601",
]

DeploymentAction = Literal["deploy", "promote", "rollback"]

STAGE_NAME_RULE = (
    "a stage name starts with a lowercase letter and continues with up to 31 lowercase letters, "
    "digits or '-' (^[a-z][a-z0-9-]{0,31}$)"
)
_STAGE_NAME = re.compile(r"[a-z][a-z0-9-]{0,31}")


def iso8601(timestamp: float) -> str:
    """Unix seconds as ISO 8601 UTC with milliseconds: ``2025-01-31T12:00:00.250Z``."""
    moment = datetime.fromtimestamp(timestamp, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def check_stage_name(name: str) -> str:
    """Return ``name`` when it is a valid stage name, else raise :class:`InvalidName`."""
    if not isinstance(name, str) or _STAGE_NAME.fullmatch(name) is None:
        raise InvalidName(f"invalid stage name {name!r}: {STAGE_NAME_RULE}")
    return name


# -- errors ------------------------------------------------------------------------------------


class StoreError(Exception):
    """Something went wrong in the store; ``code`` is stable, the message is for humans."""

    code: str = "store_error"


class NotFound(StoreError):
    """A version, stage or deployment does not exist (the message names which)."""

    code = "not_found"


class Conflict(StoreError):
    """A concurrent change won the race (or the thing exists already); retrying may succeed."""

    code = "conflict"


class InvalidName(StoreError):
    """A stage name breaks :data:`STAGE_NAME_RULE`, or a stage was promoted to itself."""

    code = "invalid_name"


class StoreUnavailable(StoreError):
    """etcd could not be reached or did not answer before the deadline."""

    code = "store_unavailable"


# -- records -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VersionMeta:
    """Everything about a version but its config."""

    number: int
    hash: str  # "sha256:<hex>" of the canonical bytes
    parent: int | None  # the latest version when this one was created
    author: str
    message: str
    created_at: float  # unix seconds
    size: int  # length of the canonical bytes

    def as_dict(self) -> dict[str, object]:
        return {
            "number": self.number,
            "hash": self.hash,
            "parent": self.parent,
            "author": self.author,
            "message": self.message,
            "created_at": iso8601(self.created_at),
            "size": self.size,
        }


@dataclass(frozen=True, slots=True)
class Version:
    """A version with its config."""

    meta: VersionMeta
    config: GatewayConfig


@dataclass(frozen=True, slots=True)
class ApplyResult:
    """What :meth:`Store.create_version` did: ``created`` is False when nothing changed."""

    version: VersionMeta
    created: bool


@dataclass(frozen=True, slots=True)
class Deployment:
    """One change of a stage: who moved it from which version to which, how and why."""

    id: int  # per-stage sequence 1, 2, 3 ...
    stage: str
    action: DeploymentAction
    version: int
    previous_version: int | None
    author: str
    message: str
    created_at: float
    source_stage: str | None = None  # promote: the stage whose version was copied
    rollback_to: int | None = None  # rollback: the deployment id whose version was restored
    # W3C trace context (traceparent, tracestate) of the operation; not part of as_dict().
    trace_context: dict[str, str] = field(default_factory=dict, hash=False)

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "stage": self.stage,
            "action": self.action,
            "version": self.version,
            "previous_version": self.previous_version,
            "author": self.author,
            "message": self.message,
            "created_at": iso8601(self.created_at),
            "source_stage": self.source_stage,
            "rollback_to": self.rollback_to,
        }


@dataclass(frozen=True, slots=True)
class Stage:
    """A stage and what it runs: ``version`` is None until its first deployment."""

    name: str
    version: int | None
    deployment: int | None  # id of the current deployment
    created_at: float
    updated_at: float
    # W3C trace context of the deployment that set ``version``; not part of as_dict().
    trace_context: dict[str, str] = field(default_factory=dict, hash=False)

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "version": self.version,
            "deployment": self.deployment,
            "created_at": iso8601(self.created_at),
            "updated_at": iso8601(self.updated_at),
        }


@dataclass(frozen=True, slots=True)
class StageChanges:
    """What :meth:`Store.watch_stages` yields.

    ``snapshot`` True: ``stages`` is every stage there is (replace what you knew); False:
    ``stages`` changed and ``deleted`` disappeared since the previous item. ``revision`` is the
    store revision this item brings you to.
    """

    snapshot: bool
    stages: tuple[Stage, ...]
    deleted: tuple[str, ...]
    revision: int


# -- the interface -----------------------------------------------------------------------------


class Store(abc.ABC):
    """Versions, stages and deployments. Every call has a deadline; a failed call changes nothing.

    Usable as an async context manager that closes the store on exit.
    """

    @abc.abstractmethod
    async def create_version(
        self, config: GatewayConfig, *, author: str, message: str
    ) -> ApplyResult:
        """Store ``config`` as the next version; if it equals the latest, return that one."""

    @abc.abstractmethod
    async def get_version(self, number: int) -> Version:
        """The version ``number`` with its config. Raises :class:`NotFound`."""

    @abc.abstractmethod
    async def get_version_meta(self, number: int) -> VersionMeta:
        """The metadata of version ``number``. Raises :class:`NotFound`."""

    @abc.abstractmethod
    async def latest_version(self) -> VersionMeta | None:
        """The newest version, None while there is none."""

    @abc.abstractmethod
    async def list_versions(
        self, *, limit: int = 50, before: int | None = None
    ) -> list[VersionMeta]:
        """Newest first, at most ``limit``; with ``before``, only numbers below it (paging)."""

    @abc.abstractmethod
    async def create_stage(self, name: str, *, author: str) -> Stage:
        """Create an empty stage. Raises :class:`Conflict` if it exists, :class:`InvalidName`."""

    @abc.abstractmethod
    async def get_stage(self, name: str) -> Stage:
        """The stage ``name``. Raises :class:`NotFound`."""

    @abc.abstractmethod
    async def list_stages(self) -> list[Stage]:
        """Every stage, sorted by name."""

    @abc.abstractmethod
    async def deploy(
        self,
        stage: str,
        version: int,
        *,
        author: str,
        message: str,
        trace_context: Mapping[str, str] | None = None,
    ) -> Deployment:
        """Point ``stage`` (created on first use) at ``version``. Raises :class:`NotFound`.

        ``trace_context`` (W3C ``traceparent``/``tracestate``) is kept with the stage and the
        deployment; None takes the caller's current span context, ``{}`` keeps none. The same
        holds for :meth:`promote` and :meth:`rollback`.
        """

    @abc.abstractmethod
    async def promote(
        self,
        source: str,
        target: str,
        *,
        author: str,
        message: str,
        trace_context: Mapping[str, str] | None = None,
    ) -> Deployment:
        """Deploy the version ``source`` runs to ``target`` (created on first use)."""

    @abc.abstractmethod
    async def rollback(
        self,
        stage: str,
        *,
        to_deployment: int | None = None,
        author: str,
        message: str,
        trace_context: Mapping[str, str] | None = None,
    ) -> Deployment:
        """Deploy the version the stage ran before (or the version of ``to_deployment``)."""

    @abc.abstractmethod
    def watch_stages(self) -> AsyncGenerator[StageChanges, None]:
        """Every stage now (a snapshot), then each change as it happens, until closed.

        Never ends on its own: an unreachable store is retried (logged), a lost watch resumes
        without missing a change, and when the store's history was compacted a new snapshot is
        yielded. Close it with ``contextlib.aclosing`` (or by cancelling the consumer).
        """

    @abc.abstractmethod
    async def history(
        self, stage: str, *, limit: int = 50, before: int | None = None
    ) -> list[Deployment]:
        """Deployments of ``stage``, newest first; ``before`` pages by deployment id."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release connections; the store is unusable afterwards."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

"""Stage changes for :class:`~edgeway.controlplane.store.etcd.EtcdStore`: deploy, promote, rollback.

Each operation reads what it needs, checks the request (raising :class:`NotFound` or
:class:`InvalidName` before anything is written), then commits ONE transaction that compares
the stage key's mod revision as read (or its absence) and writes the new stage record together
with the next deployment record; both keep the W3C trace context of the change. A lost race
raises :class:`Conflict` naming the deployment the stage is at now; the caller may read again
and retry.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

from opentelemetry import propagate

from edgeway.controlplane.store._records import (
    MAX_NUMBER,
    Keys,
    decode_deployment,
    decode_stage,
    encode_deployment,
    encode_stage,
)
from edgeway.controlplane.store.api import (
    Conflict,
    Deployment,
    DeploymentAction,
    InvalidName,
    NotFound,
    Stage,
    StoreError,
    check_stage_name,
)
from edgeway.controlplane.store.client import (
    Compare,
    EtcdClient,
    Get,
    KeyValue,
    Put,
    key_absent,
    key_present,
    same_revision,
    unchanged,
)


class StageWriter:
    """The write side of stages: every change is a stage record plus a deployment record."""

    def __init__(self, client: EtcdClient, keys: Keys) -> None:
        self._client = client
        self._keys = keys

    async def deploy(
        self,
        stage: str,
        version: int,
        *,
        author: str,
        message: str,
        trace_context: Mapping[str, str] | None = None,
    ) -> Deployment:
        check_stage_name(stage)
        if not 1 <= version <= MAX_NUMBER:
            raise NotFound(f"version {version} not found")
        version_key = self._keys.version(version)
        seen, version_found = await self._client.read([self._keys.stage(stage), version_key])
        if version_found is None:
            raise NotFound(f"version {version} not found")
        return await self._commit(
            stage, seen, "deploy", version, author=author, message=message,
            also=[key_present(version_key)], doing="deploying", trace_context=trace_context,
        )

    async def promote(
        self,
        source: str,
        target: str,
        *,
        author: str,
        message: str,
        trace_context: Mapping[str, str] | None = None,
    ) -> Deployment:
        check_stage_name(source)
        check_stage_name(target)
        if source == target:
            raise InvalidName("cannot promote a stage to itself")
        keys = [self._keys.stage(source), self._keys.stage(target)]
        source_seen, target_seen = await self._client.read(keys)
        if source_seen is None:
            raise NotFound(f"stage {source!r} not found")
        current = decode_stage(source_seen.key, source_seen.value)
        if current.version is None:
            raise NotFound(f"stage {source!r} has no deployed version to promote")
        return await self._commit(
            target, target_seen, "promote", current.version, author=author, message=message,
            source_stage=source, source_seen=source_seen, doing=f"promoting from {source!r}",
            trace_context=trace_context,
        )

    async def rollback(
        self,
        stage: str,
        *,
        to_deployment: int | None,
        author: str,
        message: str,
        trace_context: Mapping[str, str] | None = None,
    ) -> Deployment:
        check_stage_name(stage)
        seen = await self._client.get(self._keys.stage(stage))
        if seen is None:
            raise NotFound(f"stage {stage!r} not found")
        current = decode_stage(seen.key, seen.value)
        if current.deployment is None:
            raise NotFound(f"stage {stage!r} has nothing to roll back to: it was never deployed")
        if to_deployment is None:
            record = await self._deployment(stage, current.deployment)
            if record.previous_version is None:
                raise NotFound(
                    f"stage {stage!r} has nothing to roll back to: "
                    f"deployment {record.id} is its first"
                )
            version, restored = record.previous_version, record.id - 1
        else:
            if not 1 <= to_deployment <= current.deployment:
                raise NotFound(f"deployment {to_deployment} of stage {stage!r} not found")
            chosen = await self._deployment(stage, to_deployment)
            version, restored = chosen.version, chosen.id
        return await self._commit(
            stage, seen, "rollback", version, author=author, message=message,
            rollback_to=restored, doing="rolling back", trace_context=trace_context,
        )

    async def _deployment(self, stage: str, number: int) -> Deployment:
        found = await self._client.get(self._keys.deployment(stage, number))
        if found is None:
            raise NotFound(f"deployment {number} of stage {stage!r} not found")
        return decode_deployment(found.key, found.value)

    async def _commit(
        self,
        name: str,
        seen: KeyValue | None,
        action: DeploymentAction,
        version: int,
        *,
        author: str,
        message: str,
        doing: str,
        source_stage: str | None = None,
        rollback_to: int | None = None,
        also: Sequence[Compare] = (),
        source_seen: KeyValue | None = None,
        trace_context: Mapping[str, str] | None = None,
    ) -> Deployment:
        """Write the next deployment of ``name`` if the stage is still as ``seen``.

        ``also`` are further conditions. For a promotion, ``source_seen`` is the source stage as
        read: it must not move either, so the version promoted is the one it runs at commit.
        """
        current = decode_stage(seen.key, seen.value) if seen is not None else None
        context = _trace_context(trace_context)
        now = time.time()
        number = (current.deployment or 0) + 1 if current is not None else 1
        record = Deployment(
            id=number,
            stage=name,
            action=action,
            version=version,
            previous_version=current.version if current is not None else None,
            author=author,
            message=message,
            created_at=now,
            source_stage=source_stage,
            rollback_to=rollback_to,
            trace_context=dict(context),
        )
        stage = Stage(
            name=name,
            version=version,
            deployment=number,
            created_at=current.created_at if current is not None else now,
            updated_at=now,
            trace_context=context,
        )
        stage_key = self._keys.stage(name)
        deployment_key = self._keys.deployment(name, number)
        compare = [unchanged(stage_key, seen), key_absent(deployment_key), *also]
        reads = [Get(stage_key)]
        if source_seen is not None:
            compare.append(unchanged(source_seen.key, source_seen))
            reads.append(Get(source_seen.key))
        result = await self._client.txn(
            compare=compare,
            success=[
                Put(stage_key, encode_stage(stage)),
                Put(deployment_key, encode_deployment(record)),
            ],
            failure=reads,
        )
        if result.succeeded:
            return record
        now_seen = result.gets[0]
        if not same_revision(now_seen, seen):
            raise Conflict(f"stage {name!r} changed while {doing} ({_position(now_seen)}); retry")
        if source_seen is not None and not same_revision(result.gets[1], source_seen):
            raise Conflict(
                f"stage {source_stage!r} changed while promoting it to {name!r} "
                f"({_position(result.gets[1])}); retry"
            )
        raise StoreError(
            f"stage {name!r} is unchanged but the write failed its conditions: deployment "
            f"{number} exists already or version {version} is gone; the store is inconsistent"
        )


def _trace_context(given: Mapping[str, str] | None) -> dict[str, str]:
    """The context to keep: as given, or (None) the caller's current span context (W3C)."""
    if given is not None:
        return {str(k): str(v) for k, v in given.items()}
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def _position(found: KeyValue | None) -> str:
    if found is None:
        return "now deleted"
    deployment = decode_stage(found.key, found.value).deployment
    return f"now at deployment {deployment}" if deployment is not None else "now created, empty"

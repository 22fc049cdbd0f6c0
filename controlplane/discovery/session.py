"""One edge's stream on this replica: what it runs, what it should run, and pushing the difference.

A session starts from the edge's Hello (identity and the hash it serves) and runs three tasks
until the stream ends: the *reader* (Ack, Nack, Heartbeat from the edge), the *pusher* (decides
after every change whether to push) and the registry *writer* (:class:`NodeWriter`).

The pusher's rule, evaluated on each stage publication and each message from the edge:

- the stage is unknown or has no version: nothing is sent, status ``no-config``;
- the edge runs the stage's hash: nothing is sent, status ``in-sync``;
- the edge NACKed that hash (remembered in etcd per node, so also across reconnects and
  replicas) and its build is unchanged: nothing is sent, status ``nacked``;
- a push is unanswered: wait for its Ack/Nack (up to ``ack_timeout``) before sending a newer
  one, which coalesces bursts; the same hash is never sent twice in a session;
- otherwise: push, in an ``edgeway.push`` span whose parent is the trace context stored with
  the deployment, and whose own context travels in the push to the edge.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog
from opentelemetry import propagate, trace

from edgeway.common.errors import ConfigInvalid
from edgeway.common.tasks import stop_tasks
from edgeway.controlplane.discovery.hub import StageHub
from edgeway.controlplane.discovery.payloads import Payload
from edgeway.controlplane.discovery.registry import FleetRegistry, NackMemory
from edgeway.controlplane.store import Stage, StoreError
from edgeway.controlplane.store.api import iso8601
from edgeway.v1.discovery_pb2 import Ack, EdgeMessage, Heartbeat, Hello, Nack

__all__ = ["EdgeSession", "SessionTimings"]

log = structlog.get_logger(__name__)

Send = Callable[[bytes], Awaitable[None]]
_nonces = itertools.count(1)


@dataclass(frozen=True, slots=True)
class SessionTimings:
    ack_timeout: float = 30.0  # an unanswered push holds back newer ones this long
    idle_timeout: float = 60.0  # a silent edge (no message at all) is dropped after this
    retry: float = 2.0  # look again this soon after a failed payload build


@dataclass(slots=True)
class _Sent:
    nonce: str
    hash: str
    version: int
    at: float  # monotonic
    span: trace.Span


class _Idle(Exception):
    pass


class EdgeSession:
    """The control plane's side of one edge's stream."""

    def __init__(self, hello: Hello, *, hub: StageHub, registry: FleetRegistry, send: Send,
                 timings: SessionTimings, tracer: trace.Tracer) -> None:
        self.node_id, self.stage, self.region, self.build = (
            hello.node_id, hello.stage, hello.region, hello.build)
        self._hub, self._registry, self._send, self._timings, self._tracer = (
            hub, registry, send, timings, tracer)
        self.running_hash = hello.current_hash or None
        self.running_version: int | None = (hello.current_version or None) if hello.current_hash \
            else None
        self.desired: tuple[int, str] | None = None
        self.status = "pending"
        self.error: str | None = None  # a control-plane side problem, e.g. the build failed
        self.nack: NackMemory | None = None
        self.last_ack: float | None = None
        self.connected_at = self.last_seen = time.time()
        self._seen_at = time.monotonic()
        self._traffic: dict[int, list[int]] = {}
        self._sent: dict[str, _Sent] = {}
        self._last: _Sent | None = None
        self._wake = asyncio.Event()
        self.writer = registry.writer(self.node_id, self.record)
        self.pushes = 0

    def record(self) -> dict[str, Any]:
        """The registry record of this edge."""
        nack = self.nack
        return {
            "node_id": self.node_id, "region": self.region, "stage": self.stage,
            "build": self.build, "version": self.running_version, "hash": self.running_hash,
            "desired_version": self.desired[0] if self.desired else None,
            "desired_hash": self.desired[1] if self.desired else None,
            "status": self.status,
            "last_ack": iso8601(self.last_ack) if self.last_ack is not None else None,
            "nack": nack.error if nack else None, "nack_hash": nack.hash if nack else None,
            "nack_version": nack.version if nack else None,
            "nack_details": list(nack.details) if nack else [],
            "error": self.error, "replica": self._registry.replica,
            "connected_at": iso8601(self.connected_at), "last_seen": iso8601(self.last_seen),
            "traffic": {str(v): {"requests": r, "errors": e}
                        for v, (r, e) in sorted(self._traffic.items())},
        }

    async def send_raw(self, data: bytes) -> None:
        """Send a serialized ServerMessage (e.g. a Reconnect) on this stream."""
        await self._send(data)

    async def run(self, requests: AsyncIterator[EdgeMessage]) -> str:
        """Serve the stream until it ends; returns why it ended."""
        try:
            self.nack = await self._registry.load_nack(self.node_id)
        except StoreError as exc:
            log.warning("cannot read the edge's last NACK", node_id=self.node_id, error=str(exc))
        self._hub.subscribe(self.stage, self._wake)
        tasks = [asyncio.create_task(self._read(requests), name=f"read {self.node_id}"),
                 asyncio.create_task(self._push_loop(), name=f"push {self.node_id}"),
                 asyncio.create_task(self.writer.run(), name=f"record {self.node_id}")]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            finished = done.pop()
            if finished.cancelled():
                return "cancelled"
            failure = finished.exception()
            if isinstance(failure, _Idle):
                return f"no message from the edge for {self._timings.idle_timeout:g}s"
            if failure is not None:
                raise failure
            return str(finished.result() or "the registry record was taken over")
        finally:
            await stop_tasks(*tasks)
            self._hub.unsubscribe(self.stage, self._wake)
            for sent in self._sent.values():
                sent.span.set_status(trace.Status(trace.StatusCode.ERROR, "stream ended"))
                sent.span.end()
            self._sent.clear()

    # -- the edge's messages ---------------------------------------------------------------

    async def _read(self, requests: AsyncIterator[EdgeMessage]) -> str:
        async for message in requests:
            self.last_seen, self._seen_at = time.time(), time.monotonic()
            kind = message.WhichOneof("kind")
            if kind == "ack":
                await self._on_ack(message.ack)
            elif kind == "nack":
                await self._on_nack(message.nack)
            elif kind == "heartbeat":
                self._on_heartbeat(message.heartbeat)
            else:
                log.warning("ignoring an unexpected message", node_id=self.node_id, kind=kind)
            self.writer.changed()
            self._wake.set()
        return "the edge closed the stream"

    def _answered(self, nonce: str) -> _Sent | None:
        sent = self._sent.pop(nonce, None)
        if sent is None:
            log.info("answer to an unknown push", node_id=self.node_id, nonce=nonce)
            return None
        for other in [s for s in self._sent.values() if s.at <= sent.at]:
            del self._sent[other.nonce]  # older pushes the edge skipped for this newer one
            other.span.set_attribute("edgeway.push.superseded", True)
            other.span.end()
        if self._last is sent:
            self._last = None
        return sent

    async def _on_ack(self, ack: Ack) -> None:
        sent = self._answered(ack.nonce)
        if sent is None:
            return
        self.running_hash, self.running_version = sent.hash, sent.version
        self.last_ack = time.time()
        sent.span.end()
        log.info("edge applied config", node_id=self.node_id, stage=self.stage,
                 version=sent.version, hash=sent.hash)

    async def _on_nack(self, nack: Nack) -> None:
        sent = self._answered(nack.nonce)
        if sent is None:
            return
        memory = NackMemory(sent.hash, sent.version, nack.error or "(no error given)",
                            tuple(nack.details), self.build, iso8601(time.time()))
        self.nack = memory
        sent.span.set_status(trace.Status(trace.StatusCode.ERROR, memory.error))
        sent.span.end()
        log.warning("edge rejected config", node_id=self.node_id, stage=self.stage,
                    version=sent.version, hash=sent.hash, error=memory.error)
        try:
            await self._registry.save_nack(self.node_id, memory)
        except StoreError as exc:
            log.warning("cannot record the NACK in etcd", node_id=self.node_id, error=str(exc))

    def _on_heartbeat(self, heartbeat: Heartbeat) -> None:
        if heartbeat.applied_hash:
            self.running_hash = heartbeat.applied_hash
            self.running_version = heartbeat.applied_version or None
        for item in heartbeat.traffic:
            counts = self._traffic.setdefault(item.version, [0, 0])
            counts[0] += item.requests
            counts[1] += item.errors

    # -- pushing ---------------------------------------------------------------------------

    async def _push_loop(self) -> None:
        while True:
            self._wake.clear()
            look_again = await self._step()
            idle_left = self._timings.idle_timeout - (time.monotonic() - self._seen_at)
            if idle_left <= 0:
                raise _Idle
            wait = idle_left if look_again is None else min(look_again, idle_left)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._wake.wait()

    async def _step(self) -> float | None:
        """Push if needed; the seconds after which to look again without a wake-up, if any."""
        try:
            return await self._decide()
        finally:
            self.writer.changed()  # written only if the record differs from the last write

    async def _decide(self) -> float | None:
        stage = self._hub.stage(self.stage)
        if stage is None or stage.version is None:
            if self.status != "no-config":
                log.info("no config for the edge's stage", node_id=self.node_id,
                         stage=self.stage, known=stage is not None)
            self.desired, self.status = None, "no-config"
            return None
        try:
            payload = await self._hub.payload(stage)
        except (StoreError, ConfigInvalid) as exc:
            error = f"cannot build the config of stage {self.stage!r}: {exc}"
            if error != self.error:
                log.error("cannot build a push", stage=self.stage, version=stage.version,
                          node_id=self.node_id, error=str(exc))
            self.error = error
            # A store error may pass; a rendering that fails waits for the next deployment.
            return self._timings.retry if isinstance(exc, StoreError) else None
        if self._hub.stage(self.stage) is not stage:
            return 0  # a newer deployment arrived meanwhile
        self.error = None
        self.desired = (payload.version, payload.hash)
        if self.running_hash == payload.hash:
            self.status = "in-sync"
            await self._forget_nack_unless(payload.hash)
            return None
        nack = self.nack
        if nack is not None and nack.hash == payload.hash and nack.build == self.build:
            self.status = "nacked"
            return None
        self.status = "pending"
        last = self._last
        if last is not None:
            if last.hash == payload.hash:
                return None
            waited = time.monotonic() - last.at
            if waited < self._timings.ack_timeout:
                return self._timings.ack_timeout - waited
            log.warning("no answer to a push; sending the newer config", node_id=self.node_id,
                        version=last.version, waited=round(waited, 1))
            self._last = None
        await self._push(payload, stage)
        return None

    async def _forget_nack_unless(self, running: str) -> None:
        if self.nack is None or self.nack.hash == running:
            return
        self.nack = None
        try:
            await self._registry.forget_nack(self.node_id)
        except StoreError as exc:
            log.warning("cannot clear the NACK record", node_id=self.node_id, error=str(exc))

    async def _push(self, payload: Payload, stage: Stage) -> None:
        nonce = f"{next(_nonces)}"
        span = self._tracer.start_span(
            "edgeway.push", context=propagate.extract(stage.trace_context),
            kind=trace.SpanKind.PRODUCER,
            attributes={"edgeway.stage": self.stage, "edgeway.version": payload.version,
                        "edgeway.config.hash": payload.hash, "edgeway.node_id": self.node_id,
                        "edgeway.replica": self._registry.replica,
                        "edgeway.deployment": stage.deployment or 0})
        carrier: dict[str, str] = {}
        propagate.inject(carrier, context=trace.set_span_in_context(span))
        try:
            await self._send(payload.for_edge(nonce, carrier))
        except BaseException as exc:
            span.set_status(trace.Status(trace.StatusCode.ERROR, f"not sent: {exc!r}"))
            span.end()
            raise
        sent = _Sent(nonce, payload.hash, payload.version, time.monotonic(), span)
        self._sent[nonce] = self._last = sent
        self.pushes += 1
        log.info("config pushed", node_id=self.node_id, stage=self.stage,
                 version=payload.version, hash=payload.hash, nonce=nonce)

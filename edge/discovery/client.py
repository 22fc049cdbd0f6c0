"""The edge's side of config discovery: one ``ConfigDiscovery.Stream`` to any control plane.

:class:`DiscoveryClient` keeps one stream open to one of the listed control-plane replicas,
rotating through them after each failure with jittered exponential backoff. On each stream it
sends a Hello with what the edge runs now (``current()``), a Heartbeat every
``heartbeat_interval`` seconds (applied hash and version, per-version traffic from
``traffic()``), and answers each push:

- the push is checked first: its config must hash to the pushed hash (an edge that cannot
  represent the config faithfully, e.g. an older schema, must not run it);
- ``apply(push)`` compiles and swaps the config in; when it returns, the config is saved to the
  disk cache (with ``data_dir``) and an Ack is sent; when it raises, a Nack carries the error
  (every problem of a ``ConfigInvalid`` as a detail line) and the edge keeps its config;
- pushes arriving while one is applied wait in a one-slot mailbox: only the newest is applied
  next. Applying runs apart from the stream, so a dropped connection never interrupts a swap.

Applying happens in an ``edgeway.edge.apply`` span whose parent is the push's trace context,
so a deployment, its pushes and every edge's apply form one trace.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType

import grpc
import grpc.aio
import structlog
from opentelemetry import propagate, trace

from edgeway.common.errors import ConfigInvalid
from edgeway.common.tasks import stop_tasks
from edgeway.edge.discovery import cache
from edgeway.edge.discovery.backoff import Backoff
from edgeway.v1.discovery_pb2 import (
    Ack,
    ConfigPush,
    EdgeMessage,
    Heartbeat,
    Hello,
    Nack,
    ServerMessage,
    VersionTraffic,
)
from edgeway.v1.discovery_pb2_grpc import ConfigDiscoveryStub

__all__ = ["Apply", "Current", "DiscoveryClient", "Traffic"]

log = structlog.get_logger(__name__)

Apply = Callable[[ConfigPush], Awaitable[None]]
Current = Callable[[], tuple[str, int]]  # (hash, version) the edge serves; ("", 0) for none
Traffic = Callable[[], Sequence[tuple[int, int, int]]]  # (version, requests, errors) since last
Call = grpc.aio.StreamStreamCall[EdgeMessage, ServerMessage]

LARGE = 256 * 1024  # pushes above this size are hashed in a worker thread
_CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", 256 * 1024 * 1024),
    ("grpc.enable_retries", 0),
    ("grpc.use_local_subchannel_pool", 1),  # its own connection, never shared in the process
    ("grpc.http2.max_pings_without_data", 0),  # keepalive pings even when no data flows
    ("grpc.keepalive_permit_without_calls", 1),
]


class _Stream:
    """One open stream: serialized writes, each with a deadline."""

    def __init__(self, call: Call, endpoint: str, write_timeout: float) -> None:
        self.call, self.endpoint, self._timeout = call, endpoint, write_timeout
        self._lock = asyncio.Lock()
        self.open = True

    async def send(self, message: EdgeMessage) -> None:
        async with self._lock, asyncio.timeout(self._timeout):
            await self.call.write(message)


class DiscoveryClient:
    """Receive the stage's config from the control plane; use as ``async with`` or start/stop."""

    def __init__(self, endpoints: Sequence[str], *, node_id: str, region: str, stage: str,
                 build: str, apply: Apply, current: Current, traffic: Traffic | None = None,
                 data_dir: str | os.PathLike[str] | None = None, heartbeat_interval: float = 5.0,
                 connect_timeout: float = 5.0, write_timeout: float = 10.0,
                 keepalive: float = 10.0,
                 backoff: Backoff | None = None,
                 on_connected: Callable[[str], None] | None = None,
                 on_disconnected: Callable[[str, str], None] | None = None,
                 tracer: trace.Tracer | None = None) -> None:
        if isinstance(endpoints, str) or not endpoints:
            raise ValueError("give the control-plane endpoints as a list of host:port")
        self.endpoints = tuple(endpoints)
        self.node_id, self.region, self.stage, self.build = node_id, region, stage, build
        self._apply, self._current, self._traffic = apply, current, traffic
        self._data_dir = data_dir
        self._heartbeat_interval = heartbeat_interval
        self._connect_timeout, self._write_timeout = connect_timeout, write_timeout
        # gRPC pings every ``keepalive`` s and gives up after half of it: a control plane that
        # vanished without closing the connection is noticed within 1.5 x ``keepalive``.
        self._channel_options = [*_CHANNEL_OPTIONS,
                                 ("grpc.keepalive_time_ms", int(keepalive * 1000)),
                                 ("grpc.keepalive_timeout_ms", int(keepalive * 500)),
                                 ("grpc.http2.ping_timeout_ms", int(keepalive * 500))]
        self._backoff = backoff or Backoff()
        self._on_connected, self._on_disconnected = on_connected, on_disconnected
        self._tracer = tracer or trace.get_tracer("edgeway.edge.discovery")
        self._stream: _Stream | None = None
        self._mailbox: tuple[ConfigPush, _Stream] | None = None
        self._mail = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.connected_endpoint: str | None = None
        self.replica: str | None = None  # the replica id the control plane announced
        self.connections = self.pushes_received = self.applied = self.rejected = 0

    async def __aenter__(self) -> DiscoveryClient:
        await self.start()
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()

    async def start(self) -> None:
        if self._tasks:
            raise RuntimeError("the discovery client is already running")
        self._tasks = [asyncio.create_task(self._connect_loop(), name="discovery stream"),
                       asyncio.create_task(self._apply_loop(), name="discovery apply")]

    async def stop(self) -> None:
        """Close the stream and stop; an apply in progress is cancelled."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # -- the connection ----------------------------------------------------------------------

    async def _connect_loop(self) -> None:
        index = 0
        while True:
            endpoint = self.endpoints[index % len(self.endpoints)]
            try:
                reason = await self._connect(endpoint)
            except grpc.aio.AioRpcError as exc:
                reason = f"{exc.code().name}: {exc.details()}"
            except TimeoutError:
                reason = "no answer within the deadline"
            except Exception as exc:  # whatever it was, the edge keeps trying
                log.warning("control plane stream failed", endpoint=endpoint, exc_info=True)
                reason = repr(exc)
            if self.connected_endpoint is not None:
                self._backoff.reset()
                self.connected_endpoint = self.replica = None
                if self._on_disconnected is not None:
                    self._on_disconnected(endpoint, reason)
            index += 1
            delay = self._backoff.next()
            log.info("control plane stream ended", endpoint=endpoint, reason=reason,
                     next_endpoint=self.endpoints[index % len(self.endpoints)],
                     retry_in=round(delay, 3))
            await asyncio.sleep(delay)

    async def _connect(self, endpoint: str) -> str:
        async with grpc.aio.insecure_channel(endpoint, options=self._channel_options) as channel:
            call: Call = ConfigDiscoveryStub(channel).Stream(None)
            stream = _Stream(call, endpoint, self._write_timeout)
            try:
                current_hash, current_version = self._current()
                await stream.send(EdgeMessage(hello=Hello(
                    node_id=self.node_id, region=self.region, stage=self.stage, build=self.build,
                    current_hash=current_hash, current_version=current_version)))
                async with asyncio.timeout(self._connect_timeout):
                    metadata = await call.initial_metadata()
                replica = dict(metadata or ()).get("edgeway-replica")
                if replica is None:  # the call failed before the server accepted the Hello
                    return await self._read_until_end(call)
                self._connected(stream, str(replica))
                heartbeats = asyncio.create_task(self._heartbeats(stream), name="heartbeats")
                reader = asyncio.create_task(self._read_until_end(call, stream), name="reader")
                try:
                    done, _ = await asyncio.wait((reader, heartbeats),
                                                 return_when=asyncio.FIRST_COMPLETED)
                    return done.pop().result() or "heartbeat ended"
                finally:
                    await stop_tasks(heartbeats, reader)
            finally:
                stream.open = False
                if self._stream is stream:
                    self._stream = None
                call.cancel()

    def _connected(self, stream: _Stream, replica: str) -> None:
        self._stream = stream
        self.connected_endpoint, self.replica = stream.endpoint, replica
        self.connections += 1
        log.info("connected to the control plane", endpoint=stream.endpoint, replica=replica)
        if self._on_connected is not None:
            self._on_connected(stream.endpoint)

    async def _read_until_end(self, call: Call, stream: _Stream | None = None) -> str:
        while True:
            message = await call.read()
            if not isinstance(message, ServerMessage):  # grpc.aio.EOF
                return "the control plane closed the stream"
            kind = message.WhichOneof("kind")
            if kind == "push" and stream is not None:
                self._offer(message.push, stream)
            elif kind == "reconnect":
                return f"asked to reconnect: {message.reconnect.reason}"

    async def _heartbeats(self, stream: _Stream) -> str:
        while True:
            await asyncio.sleep(self._heartbeat_interval)
            applied_hash, applied_version = self._current()
            counts: Sequence[tuple[int, int, int]] = ()
            if self._traffic is not None:
                try:
                    counts = self._traffic()
                except Exception as exc:  # telemetry must not break the stream
                    log.warning("traffic callback failed", error=repr(exc))
            await stream.send(EdgeMessage(heartbeat=Heartbeat(
                applied_hash=applied_hash, applied_version=applied_version,
                traffic=[VersionTraffic(version=v, requests=r, errors=e) for v, r, e in counts])))

    # -- applying ----------------------------------------------------------------------------

    def _offer(self, push: ConfigPush, stream: _Stream) -> None:
        self.pushes_received += 1
        if self._mailbox is not None:
            log.info("skipping a push superseded before it was applied",
                     version=self._mailbox[0].version, newer=push.version)
        self._mailbox = (push, stream)
        self._mail.set()

    async def _apply_loop(self) -> None:
        while True:
            await self._mail.wait()
            self._mail.clear()
            if self._mailbox is None:
                continue
            (push, stream), self._mailbox = self._mailbox, None
            answer = await self._apply_one(push)
            if not stream.open:
                log.info("stream gone before the answer; the next Hello tells what runs",
                         version=push.version)
                continue
            try:
                await stream.send(answer)
            except (grpc.aio.AioRpcError, grpc.aio.UsageError, TimeoutError) as exc:
                log.info("could not answer a push", version=push.version, error=repr(exc))

    async def _apply_one(self, push: ConfigPush) -> EdgeMessage:
        context = propagate.extract(dict(push.trace_context))
        attributes: dict[str, str | int] = {
            "edgeway.stage": push.stage, "edgeway.version": push.version,
            "edgeway.config.hash": push.hash, "edgeway.node_id": self.node_id}
        with self._tracer.start_as_current_span(
                "edgeway.edge.apply", context=context, kind=trace.SpanKind.CONSUMER,
                attributes=attributes, record_exception=False,
                set_status_on_exception=False) as span:
            try:
                cached = await self._verified(push)
                if push.hash != self._current()[0]:
                    await self._apply(push)
            except ConfigInvalid as exc:
                return self._rejected(push, span, exc.summary(), [str(e) for e in exc.errors])
            except Exception as exc:
                return self._rejected(push, span, f"{type(exc).__name__}: {exc}", [])
            self.applied += 1
            log.info("config applied", stage=push.stage, version=push.version, hash=push.hash)
            if self._data_dir is not None:
                try:
                    await cache.save(self._data_dir, cached)
                except (OSError, ValueError) as exc:
                    log.warning("cannot write the config cache", error=str(exc))
            return EdgeMessage(ack=Ack(nonce=push.nonce, hash=push.hash))

    def _rejected(self, push: ConfigPush, span: trace.Span, error: str,
                  details: list[str]) -> EdgeMessage:
        self.rejected += 1
        span.set_status(trace.Status(trace.StatusCode.ERROR, error.splitlines()[0]))
        log.warning("config rejected; keeping the previous one", stage=push.stage,
                    version=push.version, error=error)
        return EdgeMessage(nack=Nack(nonce=push.nonce, hash=push.hash, error=error,
                                     details=details))

    async def _verified(self, push: ConfigPush) -> cache.CachedConfig:
        """The push as canonical bytes, checked against its hash (a thread for big configs)."""
        if push.config.ByteSize() > LARGE:
            cached = await asyncio.to_thread(cache.CachedConfig.from_push, push)
        else:
            cached = cache.CachedConfig.from_push(push)
        if cached.hash != push.hash:
            raise ValueError(f"the pushed config hashes to {cached.hash}, not {push.hash}: "
                             "the edge cannot represent it faithfully (schema mismatch?)")
        return cached

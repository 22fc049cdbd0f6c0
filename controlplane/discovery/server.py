"""The ``ConfigDiscovery`` gRPC service of one control-plane replica, and how to run it.

:func:`serve_discovery` starts a :class:`DiscoveryServer`: it grants the replica's registry
lease, starts the :class:`StageHub` (watch of the stages, first snapshot read before serving)
and binds a grpc.aio server. Each ``Stream`` call must open with a Hello (within
``hello_timeout``); the stream is then an :class:`EdgeSession`.

Responses are written as bytes (the service registers its own serializer), so the shared part
of a push is serialized once per (stage, version), never per edge.

Stopping: stop accepting, ask every connected edge to reconnect elsewhere (``Reconnect``), give
streams ``grace`` seconds to end, then revoke the lease (so this replica's records disappear at
once rather than after the TTL) and stop the hub.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import grpc
import grpc.aio
import structlog
from google.protobuf.message import Message
from opentelemetry import trace

from edgeway.controlplane.discovery.hub import StageHub
from edgeway.controlplane.discovery.registry import FleetRegistry
from edgeway.controlplane.discovery.session import EdgeSession, SessionTimings
from edgeway.controlplane.store import EtcdStore, InvalidName
from edgeway.controlplane.store.api import check_stage_name
from edgeway.v1.discovery_pb2 import EdgeMessage, Reconnect, ServerMessage

__all__ = ["DiscoveryServer", "DiscoverySettings", "serve_discovery"]

log = structlog.get_logger(__name__)

SERVICE = "edgeway.v1.ConfigDiscovery"
MAX_NODE_ID = 128

_SERVER_OPTIONS = [
    ("grpc.so_reuseport", 0),  # a port in use is an error, not a silently shared port
    ("grpc.max_send_message_length", 256 * 1024 * 1024),  # a 10,000-route config is large
    ("grpc.max_receive_message_length", 4 * 1024 * 1024),
    ("grpc.keepalive_time_ms", 20_000),  # ping edges so a vanished one is noticed
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.http2.ping_timeout_ms", 10_000),
    ("grpc.http2.min_recv_ping_interval_without_data_ms", 5_000),  # edges ping every 10 s
    ("grpc.http2.max_ping_strikes", 0),
    ("grpc.keepalive_permit_without_calls", 1),
]


@dataclass(frozen=True, slots=True)
class DiscoverySettings:
    lease_ttl: int = 10  # seconds; a dead replica's edges leave the registry after this
    debounce: float = 0.1  # a stage is published once quiet this long ...
    max_delay: float = 1.0  # ... or this long after the first change of a burst
    hello_timeout: float = 10.0
    write_timeout: float = 10.0  # deadline of sending one message to an edge
    grace: float = 2.0  # streams get this long to end when the server stops
    startup_timeout: float = 10.0  # reading the stages the first time
    cache_size: int = 16  # push payloads kept, by (stage, version)
    timings: SessionTimings = field(default_factory=SessionTimings)


class DiscoveryServer:
    """A running ConfigDiscovery service; see :func:`serve_discovery`."""

    def __init__(self, store: EtcdStore, *, settings: DiscoverySettings | None = None,
                 tracer: trace.Tracer | None = None) -> None:
        self.settings = settings or DiscoverySettings()
        self._store = store
        self._tracer = tracer or trace.get_tracer("edgeway.controlplane.discovery")
        self.hub = StageHub(store, debounce=self.settings.debounce,
                            max_delay=self.settings.max_delay, cache_size=self.settings.cache_size)
        self.registry: FleetRegistry | None = None
        self.sessions: set[EdgeSession] = set()
        self._cleanups: set[asyncio.Task[None]] = set()
        self._server: grpc.aio.Server | None = None
        self._draining = False
        self.port = 0
        self.address = ""  # host:port to connect to (loopback when listening on all addresses)
        self.replica_id = ""

    async def start(self, listen: tuple[str, int], *, replica_id: str | None = None) -> None:
        host, port = listen
        server = grpc.aio.server(options=_SERVER_OPTIONS)
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, {
            "Stream": grpc.stream_stream_rpc_method_handler(
                self._stream, request_deserializer=EdgeMessage.FromString,
                response_serializer=_serialize)}),))
        target = _join(host, port)
        try:
            self.port = server.add_insecure_port(target)
        except RuntimeError as exc:
            raise OSError(f"cannot listen on {target}: {exc}") from None
        if not self.port:
            raise OSError(f"cannot listen on {target}")
        wildcard = host in ("", "0.0.0.0", "::")
        self.address = _join(("::1" if host == "::" else "127.0.0.1") if wildcard else host,
                             self.port)
        self.replica_id = replica_id or _join(socket.gethostname() if wildcard else host,
                                              self.port)
        self.registry = FleetRegistry(self._store, replica=self.replica_id,
                                      ttl=self.settings.lease_ttl)
        await self.registry.start()
        try:
            await self.hub.start(self.settings.startup_timeout)
            await server.start()
        except BaseException:
            await server.stop(None)
            await self.hub.close()
            await self.registry.close()
            raise
        self._server = server
        log.info("config discovery serving", listen=target, port=self.port,
                 replica=self.replica_id)

    async def stop(self, grace: float | None = None) -> None:
        """Stop accepting, ask edges to reconnect elsewhere, let streams end, clean up."""
        if self._server is None:
            return
        server, self._server = self._server, None
        self._draining = True
        grace = self.settings.grace if grace is None else grace
        stop = asyncio.create_task(server.stop(grace))
        await asyncio.gather(*(self._ask_to_reconnect(s) for s in list(self.sessions)))
        await stop
        await asyncio.gather(*self._cleanups, return_exceptions=True)
        if self.registry is not None:
            await self.registry.close(revoke=True)
        await self.hub.close()
        log.info("config discovery stopped", replica=self.replica_id)

    async def _ask_to_reconnect(self, session: EdgeSession) -> None:
        message = ServerMessage(reconnect=Reconnect(reason="control-plane replica stopping"))
        with contextlib.suppress(Exception):
            await session.send_raw(message.SerializeToString())

    async def _stream(self, requests: AsyncIterator[EdgeMessage],
                      context: grpc.aio.ServicerContext[EdgeMessage, bytes]) -> None:
        if self._draining or self.registry is None:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "replica stopping; use another")
        try:
            async with asyncio.timeout(self.settings.hello_timeout):
                first = await anext(aiter(requests), None)
        except TimeoutError:
            await context.abort(grpc.StatusCode.DEADLINE_EXCEEDED,
                                f"no Hello within {self.settings.hello_timeout:g}s")
        problem = _check_hello(first)
        if problem is not None or first is None:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, problem or "no Hello")
        hello = first.hello
        await context.send_initial_metadata((("edgeway-replica", self.replica_id),))

        writing = asyncio.Lock()  # one write at a time: pushes and a Reconnect may race

        async def send(data: bytes) -> None:
            async with writing, asyncio.timeout(self.settings.write_timeout):
                await context.write(data)

        session = EdgeSession(hello, hub=self.hub, registry=self.registry, send=send,
                              timings=self.settings.timings, tracer=self._tracer)
        self.sessions.add(session)
        log.info("edge connected", node_id=hello.node_id, stage=hello.stage,
                 region=hello.region, build=hello.build, peer=context.peer(),
                 current_hash=hello.current_hash or None)
        reason = "cancelled"
        try:
            reason = await session.run(requests)
        finally:
            self.sessions.discard(session)
            # Deleting the record must finish even when gRPC cancels the handler: it runs as
            # its own task, which stop() awaits.
            cleanup = asyncio.create_task(session.writer.remove())
            self._cleanups.add(cleanup)
            cleanup.add_done_callback(self._cleanups.discard)
            await asyncio.shield(cleanup)
            log.info("edge disconnected", node_id=hello.node_id, reason=reason,
                     pushes=session.pushes)


def _check_hello(message: EdgeMessage | None) -> str | None:
    if message is None or message.WhichOneof("kind") != "hello":
        return "the stream must open with a Hello"
    hello = message.hello
    node_id = hello.node_id
    if not node_id or len(node_id) > MAX_NODE_ID or "/" in node_id or not node_id.isprintable() \
            or any(c.isspace() for c in node_id):
        return (f"invalid node_id {node_id!r}: 1 to {MAX_NODE_ID} printable characters, "
                "no '/' or spaces")
    try:
        check_stage_name(hello.stage)
    except InvalidName as exc:
        return str(exc)
    return None


def _join(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _serialize(message: bytes | Message) -> bytes:
    return message if isinstance(message, bytes) else message.SerializeToString()


@asynccontextmanager
async def serve_discovery(store: EtcdStore, *, listen: tuple[str, int],
                          replica_id: str | None = None, settings: DiscoverySettings | None = None,
                          tracer: trace.Tracer | None = None) -> AsyncIterator[DiscoveryServer]:
    """Serve ConfigDiscovery on ``listen`` (port 0: any free port, see ``server.port``) until
    the context exits; ``replica_id`` defaults to ``host:port``."""
    server = DiscoveryServer(store, settings=settings, tracer=tracer)
    await server.start(listen, replica_id=replica_id)
    try:
        yield server
    finally:
        await server.stop()

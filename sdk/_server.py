"""The plugin service: a grpc.aio server with the unary RPCs, the Exchange stream and health.

Every hook call honours its deadline (the gRPC deadline of a unary call, ``timeout_ms`` of a
call on the stream, kept for all calls of a stream by one timer), runs in a span continuing the
caller's trace when spans are recorded (no tracer provider: no span and no trace context read,
which would cost more than a no-op hook), and turns a failure into an
answer the edge understands: a gRPC status for unary calls (``DEADLINE_EXCEEDED``,
``INVALID_ARGUMENT`` for a config the plugin rejects, ``INTERNAL`` for a hook that raised), a
``CallError`` reply on the stream. Calls on one stream run concurrently and are answered as
they finish, matched by call id. SIGINT/SIGTERM stop the server gracefully: health turns
NOT_SERVING, in-flight calls get ``grace`` seconds, then ``Plugin.shutdown`` runs. ``serve``
runs on uvloop when it is installed.
"""

from __future__ import annotations

import asyncio
import contextvars
import heapq
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Generator
from typing import Any, TypeVar, cast

import grpc
import structlog
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from opentelemetry.context import Context
from opentelemetry.trace import Status, StatusCode

from edgeway.sdk._config import ConfigRejected
from edgeway.sdk._plugin import Plugin
from edgeway.sdk._runtime import PluginRuntime
from edgeway.sdk._telemetry import (
    configure_logging,
    configure_tracing,
    context_of,
    span,
    tracing,
)
from edgeway.sdk._wire import ERROR, REQUEST, RESPONSE, reply
from edgeway.v1 import plugin_pb2

__all__ = ["serve", "serve_async"]

log = structlog.get_logger("edgeway.sdk")

T = TypeVar("T")
Context_ = grpc.aio.ServicerContext[Any, Any]

SERVICE = "edgeway.v1.Plugin"
_OPTIONS = (
    ("grpc.so_reuseport", 0),  # a taken port is an error, not a second listener
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
    ("grpc.max_send_message_length", 64 * 1024 * 1024),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_ping_interval_without_data_ms", 5_000),
)


_MAX_BATCH = 256
"""Most replies in one Exchange message."""


class _Failed(Exception):
    """A hook call failed: the gRPC status to answer with and the message."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _failure(plugin: str, phase: str, exc: Exception) -> _Failed:
    if isinstance(exc, ConfigRejected):
        return _Failed(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
    log.exception("plugin hook failed", plugin=plugin, phase=phase)
    return _Failed(grpc.StatusCode.INTERNAL,
                   f"{plugin} {phase} failed: {type(exc).__name__}: {exc}")


def _late(plugin: str, phase: str, budget: float | None) -> _Failed:
    return _Failed(grpc.StatusCode.DEADLINE_EXCEEDED,
                   f"{plugin} {phase}: deadline exceeded ({(budget or 0) * 1000:.0f} ms)")


async def _guarded(plugin: str, phase: str, parent: Context | None, budget: float | None,
                   work: Callable[[], Awaitable[T]]) -> T:
    """Run one unary hook call in its span within ``budget`` seconds; failures become
    :class:`_Failed`."""
    with span(plugin, phase, parent) as current:
        try:
            async with asyncio.timeout(budget):
                return await work()
        except TimeoutError:
            failure = _late(plugin, phase, budget)
        except Exception as exc:
            failure = _failure(plugin, phase, exc)
        current.set_status(Status(StatusCode.ERROR, failure.message))
        raise failure


class _Deadlines:
    """The deadlines of one Exchange stream's calls: one timer for all of them (a timer or a
    timeout scope per call costs more than the no-op hook itself). A call past its deadline
    is cancelled and listed in ``expired``; the timer fires at most ``SLACK`` late."""

    SLACK = 0.002

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.expired: set[asyncio.Task[Any]] = set()
        self._heap: list[tuple[float, int, asyncio.Task[Any]]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._count = 0

    def add(self, task: asyncio.Task[Any], budget: float) -> None:
        deadline = self.loop.time() + budget
        self._count += 1
        heapq.heappush(self._heap, (deadline, self._count, task))
        timer = self._timer
        if timer is None or deadline + self.SLACK < timer.when():
            if timer is not None:
                timer.cancel()
            self._timer = self.loop.call_at(deadline + self.SLACK, self._sweep)

    def _sweep(self) -> None:
        self._timer = None
        heap, now = self._heap, self.loop.time()
        while heap and (heap[0][0] <= now or heap[0][2].done()):
            task = heapq.heappop(heap)[2]
            if not task.done():
                self.expired.add(task)
                task.cancel()
        if heap:
            self._timer = self.loop.call_at(heap[0][0] + self.SLACK, self._sweep)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()


class _Servicer:
    """The Plugin service (``plugin.proto``) over one plugin's runtime."""

    def __init__(self, runtime: PluginRuntime) -> None:
        self.runtime = runtime
        self.name = runtime.name

    async def Describe(  # noqa: N802
        self, request: plugin_pb2.DescribeRequest, context: Context_
    ) -> plugin_pb2.PluginDescription:
        return self.runtime.description

    async def ValidateConfig(  # noqa: N802
        self, request: plugin_pb2.ValidateConfigRequest, context: Context_
    ) -> plugin_pb2.ValidateConfigResponse:
        return self.runtime.validate(request)

    async def _unary(self, phase: str, context: Context_, work: Callable[[], Awaitable[T]]) -> T:
        parent = context_of(context.invocation_metadata() or ()) if tracing() else None
        try:
            return await _guarded(self.name, phase, parent, context.time_remaining(), work)
        except _Failed as failure:
            await context.abort(failure.code, failure.message)
            raise  # abort raises; this keeps the type checker informed

    async def OnRequest(  # noqa: N802
        self, request: plugin_pb2.RequestCall, context: Context_
    ) -> plugin_pb2.RequestVerdict:
        return await self._unary("request", context, lambda: self.runtime.on_request(request))

    async def OnResponse(  # noqa: N802
        self, request: plugin_pb2.ResponseCall, context: Context_
    ) -> plugin_pb2.ResponseVerdict:
        return await self._unary("response", context, lambda: self.runtime.on_response(request))

    async def OnLog(  # noqa: N802
        self, request: plugin_pb2.LogBatch, context: Context_
    ) -> plugin_pb2.LogAck:
        return await self._unary("log", context, lambda: self.runtime.on_log(request))

    async def _answer(self, call: plugin_pb2.PluginCall, deadlines: _Deadlines,
                      traced: bool) -> bytes:
        """Run one call of the stream: its encoded reply (:mod:`._wire`). Its deadline is kept
        by ``deadlines``; ``traced``: spans are recorded (checked once per message)."""
        kind = call.WhichOneof("call")
        if kind == "request":
            phase, call_id = "request", call.request.call_id
        elif kind == "response":
            phase, call_id = "response", call.response.call_id
        else:
            return reply(ERROR, plugin_pb2.CallError(message="empty call").SerializeToString())
        current: Any = None
        try:
            if traced:
                parent = context_of(call.trace_context) if call.trace_context else None
                with span(self.name, phase, parent) as current:
                    return await self._verdict(call, kind)
            return await self._verdict(call, kind)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is None or task not in deadlines.expired:
                raise
            deadlines.expired.discard(task)
            failure = _late(self.name, phase, call.timeout_ms / 1000)
        except Exception as exc:
            failure = _failure(self.name, phase, exc)
        if current is not None:
            current.set_status(Status(StatusCode.ERROR, failure.message))
        error = plugin_pb2.CallError(call_id=call_id, message=failure.message)
        return reply(ERROR, error.SerializeToString())

    async def _verdict(self, call: plugin_pb2.PluginCall, kind: str) -> bytes:
        if kind == "request":
            return reply(REQUEST, await self.runtime.encoded_request(call.request))
        verdict = await self.runtime.on_response(call.response)
        return reply(RESPONSE, verdict.SerializeToString())

    async def Exchange(  # noqa: N802
        self, request_iterator: AsyncIterator[plugin_pb2.PluginCalls], context: Context_
    ) -> AsyncIterator[bytes]:  # serialized PluginReplies (the handler's serializer: none)
        outbox = _Outbox()
        running: set[asyncio.Task[None]] = set()
        deadlines = _Deadlines()

        async def finish(started: _Started) -> None:
            outbox.put(await started)

        async def read() -> None:
            try:
                async for batch in request_iterator:
                    traced = tracing()
                    for call in batch.calls:
                        started = _start(self._answer(call, deadlines, traced))
                        if not isinstance(started, _Started):
                            if started is not None:  # answered without waiting: no task, no timer
                                outbox.put(started)
                            continue
                        task = asyncio.create_task(finish(started), context=started.context)
                        running.add(task)
                        task.add_done_callback(running.discard)
                        if call.timeout_ms:
                            deadlines.add(task, call.timeout_ms / 1000)
                while running:  # the edge closed its side: finish what it asked for
                    await asyncio.wait(set(running))
            finally:
                outbox.close()

        reader = asyncio.create_task(read())
        try:
            while (batch := await outbox.take()) is not None:
                yield batch  # the replies ready now, in one message
        finally:
            reader.cancel()
            for task in list(running):
                task.cancel()
            deadlines.close()


class _Started:
    """A hook call run up to its first wait (:func:`_start`), for a task to carry on.

    Awaiting it passes what the call waits for up to the task and the task's results and
    exceptions (a deadline's cancellation too) down to the call, as if the task had run the
    call from its start.
    """

    def __init__(self, call: Coroutine[Any, Any, bytes], waiting: Any,
                 context: contextvars.Context) -> None:
        self.call = call
        self.waiting = waiting
        self.context = context
        """The context the call started in: the task goes on in it (spans, context vars)."""

    def __await__(self) -> Generator[Any, Any, bytes]:
        call, waiting = self.call, self.waiting
        try:
            while True:
                try:
                    sent = yield waiting
                except GeneratorExit:
                    call.close()
                    raise
                except BaseException as exc:  # handed to the call, as a task would
                    waiting = call.throw(exc)
                else:
                    waiting = call.send(sent)
        except StopIteration as done:  # the call returned its reply
            return cast(bytes, done.value)


def _start(call: Coroutine[Any, Any, bytes]) -> bytes | _Started | None:
    """Run a hook call at once, in a context of its own: its reply when it finishes without
    waiting (a no-op or a lookup in memory: most calls), else the call to hand to a task
    (``None``: the hook cancelled itself, which leaves the call unanswered, as a task would).

    A task per call would cost more than such a hook (creating and scheduling it, a loop turn
    before it starts, its deadline timer); Python 3.12's eager tasks do the same.
    """
    context = contextvars.copy_context()
    try:
        waiting = context.run(call.send, None)
    except StopIteration as done:
        return cast(bytes, done.value)
    except asyncio.CancelledError:
        return None
    return _Started(call, waiting, context)


class _Outbox:
    """Replies of one Exchange stream waiting to be written (encoded): all those ready go in
    the next message (at most ``_MAX_BATCH``)."""

    def __init__(self) -> None:
        self._ready: list[bytes] = []
        self._waiter: asyncio.Future[None] | None = None
        self._closed = False

    def put(self, encoded: bytes) -> None:
        self._ready.append(encoded)
        self._wake()

    def close(self) -> None:
        self._closed = True
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def take(self) -> bytes | None:
        """The next message (a serialized ``PluginReplies``); ``None`` once closed and
        drained."""
        while not self._ready:
            if self._closed:
                return None
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter
        ready = self._ready
        batch = b"".join(ready[:_MAX_BATCH])
        del ready[:_MAX_BATCH]
        return batch


def _handlers(servicer: _Servicer) -> dict[str, grpc.RpcMethodHandler[Any, Any]]:
    """The Plugin service's methods, as ``plugin_pb2_grpc`` registers them, except that the
    Exchange stream's replies are written as bytes (:mod:`._wire`)."""
    messages = plugin_pb2

    def unary(method: Any, request: Any, response: Any) -> grpc.RpcMethodHandler[Any, Any]:
        return grpc.unary_unary_rpc_method_handler(
            method, request_deserializer=request.FromString,
            response_serializer=response.SerializeToString)

    return {
        "Describe": unary(servicer.Describe, messages.DescribeRequest,
                          messages.PluginDescription),
        "ValidateConfig": unary(servicer.ValidateConfig, messages.ValidateConfigRequest,
                                messages.ValidateConfigResponse),
        "OnRequest": unary(servicer.OnRequest, messages.RequestCall, messages.RequestVerdict),
        "OnResponse": unary(servicer.OnResponse, messages.ResponseCall,
                            messages.ResponseVerdict),
        "OnLog": unary(servicer.OnLog, messages.LogBatch, messages.LogAck),
        "Exchange": grpc.stream_stream_rpc_method_handler(
            servicer.Exchange, request_deserializer=messages.PluginCalls.FromString),
    }


async def serve_async(plugin: Plugin[Any], address: str, *, grace: float = 5.0,
                      stop: asyncio.Event | None = None) -> None:
    """Serve ``plugin`` on ``address`` (``host:port``) until SIGINT/SIGTERM or ``stop`` is set.

    ``OSError`` when the address cannot be bound; ``TypeError`` when the plugin's declarations
    are incomplete (name, version, at least one hook).
    """
    runtime = PluginRuntime(plugin)
    server = grpc.aio.server(options=_OPTIONS)
    handlers = _handlers(_Servicer(runtime))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    # as the generated code does: calls find their handler without a lookup (not in the stubs)
    server.add_registered_method_handlers(SERVICE, handlers)  # type: ignore[attr-defined]
    checks = health.aio.HealthServicer()  # type: ignore[attr-defined]  # missing in the stubs
    health_pb2_grpc.add_HealthServicer_to_server(checks, server)
    try:
        port = server.add_insecure_port(address)
    except RuntimeError as exc:
        raise OSError(f"cannot listen on {address}: {exc}") from None
    if not port:
        raise OSError(f"cannot listen on {address}")
    stopping = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)
    installed: list[signal.Signals] = []
    for sig in signals:
        try:
            loop.add_signal_handler(sig, stopping.set)
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):
            pass  # not the main thread: the caller stops us through ``stop``
    await plugin.startup()
    try:
        await server.start()
        await checks.set(SERVICE, health_pb2.HealthCheckResponse.SERVING)
        log.info("plugin serving", plugin=runtime.name, version=runtime.version,
                 address=address, port=port,
                 phases=[plugin_pb2.Phase.Name(p) for p in runtime.description.phases])
        await stopping.wait()
        log.info("plugin stopping", plugin=runtime.name, grace=grace)
        await checks.enter_graceful_shutdown()
        await server.stop(grace)
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
        await server.stop(None)
        await plugin.shutdown()
    log.info("plugin stopped", plugin=runtime.name)


def _run(main: Coroutine[Any, Any, None]) -> None:
    """Run ``main`` on uvloop when it is installed (it is with Edgeway; the SDK does not
    require it), else on asyncio's own loop."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
        return
    uvloop.run(main)


def serve(plugin: Plugin[Any], address: str, *, grace: float = 5.0,
          log_level: str = "info") -> None:
    """Run the plugin service on ``address`` until SIGINT or SIGTERM (blocks).

    Logs are JSON lines on stderr; spans are exported over OTLP when the standard
    ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set (see ``docs/plugins.md``).
    """
    configure_logging(log_level)
    flush = configure_tracing(getattr(type(plugin), "name", "edgeway-plugin"))
    try:
        _run(serve_async(plugin, address, grace=grace))
    finally:
        if flush is not None:
            try:
                flush()
            except Exception as exc:
                log.warning("flushing spans failed", error=str(exc))

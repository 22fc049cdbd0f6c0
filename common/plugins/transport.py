"""Calls to one plugin endpoint's replicas: shared channels, the Exchange stream, unary fallback.

One long-lived grpc.aio channel per address, chosen round robin per call. On each channel one
Exchange stream carries every ``OnRequest``/``OnResponse`` call: a call is written with its call
id, its budget (``timeout_ms``) and the trace context, and a reader task resolves the caller's
future when the reply with that id arrives, so calls from many requests share one HTTP/2 stream
without waiting for each other. A broken stream fails its pending calls and is reopened by the
next call; a plugin that does not implement Exchange is called with the unary RPCs from then on.
A call that finds its replica unavailable tries the next replica within its budget.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import grpc
import structlog
from grpc.aio import EOF  # type: ignore[attr-defined]  # not in grpc-stubs

from edgeway.v1 import plugin_pb2, plugin_pb2_grpc

__all__ = ["CallFailed", "Transport"]

log = structlog.get_logger(__name__)

_CHANNEL_OPTIONS = (
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
    ("grpc.max_send_message_length", 64 * 1024 * 1024),
    ("grpc.keepalive_time_ms", 20_000),
    ("grpc.keepalive_timeout_ms", 5_000),
    ("grpc.enable_retries", 0),
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1_000),
)

Metadata = tuple[tuple[str, str], ...]


class CallFailed(Exception):
    """A plugin call did not produce a verdict; ``reason`` says why in a few words."""

    def __init__(self, reason: str, code: grpc.StatusCode | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code

    @property
    def unavailable(self) -> bool:
        """The replica could not be reached (another one may be)."""
        return self.code is grpc.StatusCode.UNAVAILABLE


def _rpc_failure(exc: grpc.aio.AioRpcError) -> CallFailed:
    code = exc.code()
    if code is grpc.StatusCode.DEADLINE_EXCEEDED:
        return CallFailed("deadline exceeded", code)
    details = (exc.details() or "").splitlines()[0][:200] if exc.details() else ""
    return CallFailed(f"{code.name.lower()}: {details}" if details else code.name.lower(), code)


MAX_BATCH = 256
"""Most calls in one stream message."""


class _Stream:
    """One Exchange stream: writes go through one writer task, which sends every call queued
    meanwhile in one message; replies are matched by id."""

    def __init__(self, stub: Any) -> None:
        self._call = stub.Exchange()
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[plugin_pb2.PluginReply]] = {}
        self._outbox: asyncio.Queue[plugin_pb2.PluginCall] = asyncio.Queue()
        self.broken: CallFailed | None = None
        self._reader = asyncio.create_task(self._read())
        self._writer = asyncio.create_task(self._write())

    async def _write(self) -> None:
        outbox = self._outbox
        try:
            while True:
                batch = plugin_pb2.PluginCalls()
                batch.calls.append(await outbox.get())
                while not outbox.empty() and len(batch.calls) < MAX_BATCH:
                    batch.calls.append(outbox.get_nowait())
                await self._call.write(batch)
        except asyncio.CancelledError:
            raise
        except grpc.aio.AioRpcError as exc:
            self._fail(_rpc_failure(exc))
        except Exception as exc:  # the call ended; the reader reports why
            self._fail(CallFailed(f"stream write failed: {type(exc).__name__}"))

    async def _read(self) -> None:
        failure = CallFailed("stream closed")
        try:
            while True:
                replies = await self._call.read()
                if replies is EOF:
                    failure = CallFailed("stream ended by the plugin")
                    break
                pending = self._pending
                for reply in replies.replies:
                    which = reply.WhichOneof("reply")
                    if which is None:
                        continue
                    future = pending.pop(getattr(reply, which).call_id, None)
                    if future is not None and not future.done():
                        future.set_result(reply)
        except grpc.aio.AioRpcError as exc:
            failure = _rpc_failure(exc)
        except asyncio.CancelledError:
            pass
        except Exception as exc:
            failure = CallFailed(f"stream failed: {type(exc).__name__}: {exc}")
        self._fail(failure)

    def _fail(self, failure: CallFailed) -> None:
        if self.broken is None:
            self.broken = failure
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(failure)

    async def call(self, call: plugin_pb2.PluginCall, inner: Any,
                   budget: float) -> plugin_pb2.PluginReply:
        """Send ``call`` (``inner`` is its request or response part) and await its reply."""
        if self.broken is not None:
            raise self.broken
        call_id = next(self._ids)
        inner.call_id = call_id
        call.timeout_ms = max(1, int(budget * 1000))
        future: asyncio.Future[plugin_pb2.PluginReply] = asyncio.get_running_loop().create_future()
        self._pending[call_id] = future
        self._outbox.put_nowait(call)
        try:
            async with asyncio.timeout(budget):
                return await future
        except TimeoutError:
            raise CallFailed("deadline exceeded", grpc.StatusCode.DEADLINE_EXCEEDED) from None
        finally:
            self._pending.pop(call_id, None)

    async def close(self) -> None:
        self._writer.cancel()
        self._call.cancel()
        self._reader.cancel()
        await asyncio.gather(self._reader, self._writer, return_exceptions=True)
        self._fail(CallFailed("stream closed"))


class _Replica:
    def __init__(self, address: str) -> None:
        self.address = address
        self.channel = grpc.aio.insecure_channel(address, options=_CHANNEL_OPTIONS)
        self.stub: Any = plugin_pb2_grpc.PluginStub(self.channel)
        self.stream: _Stream | None = None
        self._closing: set[asyncio.Task[None]] = set()

    def open_stream(self) -> _Stream:
        if self.stream is None or self.stream.broken is not None:
            if self.stream is not None:
                task = asyncio.get_running_loop().create_task(self.stream.close())
                self._closing.add(task)
                task.add_done_callback(self._closing.discard)
            self.stream = _Stream(self.stub)
        return self.stream

    async def close(self) -> None:
        if self.stream is not None:
            await self.stream.close()
        await asyncio.gather(*self._closing, return_exceptions=True)
        await self.channel.close(None)


class Transport:
    """Calls to the replicas of one plugin endpoint (``addresses`` as ``host:port``)."""

    def __init__(self, name: str, addresses: Sequence[str], *, exchange: bool = True) -> None:
        if not addresses:
            raise ValueError(f"plugin {name!r} has no endpoint")
        self.name = name
        self.replicas = [_Replica(address) for address in addresses]
        self._next = itertools.cycle(range(len(self.replicas)))
        self.exchange = exchange

    def _pick(self) -> _Replica:
        return self.replicas[next(self._next)]

    async def describe(self, budget: float) -> plugin_pb2.PluginDescription:
        result: plugin_pb2.PluginDescription = await self._unary(
            "Describe", plugin_pb2.DescribeRequest(), budget, ())
        return result

    async def validate(self, request: plugin_pb2.ValidateConfigRequest,
                       budget: float) -> plugin_pb2.ValidateConfigResponse:
        result: plugin_pb2.ValidateConfigResponse = await self._unary(
            "ValidateConfig", request, budget, ())
        return result

    async def log(self, batch: plugin_pb2.LogBatch, budget: float,
                  trace: Mapping[str, str]) -> None:
        await self._unary("OnLog", batch, budget, tuple(trace.items()))

    async def request(self, request: plugin_pb2.HttpRequest, config: Any, budget: float,
                      trace: Mapping[str, str]) -> plugin_pb2.RequestVerdict:
        """``OnRequest`` for ``request`` with an instance's ``config`` (copied once, into the
        message that goes out)."""
        if self.exchange:
            wrapped = plugin_pb2.PluginCall()
            wrapped.request.request.CopyFrom(request)
            wrapped.request.config.CopyFrom(config)
            reply = await self._exchange(wrapped, budget, trace)
            if reply is not None:
                if reply.WhichOneof("reply") != "request":
                    raise CallFailed("unexpected reply on the stream")
                return reply.request
        call = plugin_pb2.RequestCall(request=request, config=config)
        result: plugin_pb2.RequestVerdict = await self._unary("OnRequest", call, budget,
                                                              tuple(trace.items()))
        return result

    async def response(self, call: plugin_pb2.ResponseCall, budget: float,
                       trace: Mapping[str, str]) -> plugin_pb2.ResponseVerdict:
        if self.exchange:
            reply = await self._exchange(plugin_pb2.PluginCall(response=call), budget, trace)
            if reply is not None:
                if reply.WhichOneof("reply") != "response":
                    raise CallFailed("unexpected reply on the stream")
                return reply.response
        result: plugin_pb2.ResponseVerdict = await self._unary("OnResponse", call, budget,
                                                               tuple(trace.items()))
        return result

    async def _exchange(self, call: plugin_pb2.PluginCall, budget: float,
                        trace: Mapping[str, str]) -> plugin_pb2.PluginReply | None:
        """The reply over a stream; ``None`` when the plugin has no Exchange (use unary)."""
        if trace:
            call.trace_context.update(trace)
        inner = call.request if call.HasField("request") else call.response
        loop = asyncio.get_running_loop()
        deadline = loop.time() + budget
        for attempt in range(len(self.replicas)):
            try:
                reply = await self._pick().open_stream().call(call, inner, budget)
            except CallFailed as failure:
                if failure.code is grpc.StatusCode.UNIMPLEMENTED:
                    log.info("plugin has no Exchange stream; using unary calls", plugin=self.name)
                    self.exchange = False
                    return None
                budget = deadline - loop.time()
                if not failure.unavailable or attempt + 1 == len(self.replicas) or budget <= 0:
                    raise
                continue
            if reply.WhichOneof("reply") == "error":
                raise CallFailed(f"plugin error: {reply.error.message}")
            return reply
        raise CallFailed("no replica")  # pragma: no cover - the loop returns or raises

    async def _unary(self, method: str, message: Any, budget: float, metadata: Metadata) -> Any:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + budget
        for attempt in range(len(self.replicas)):
            replica = self._pick()
            try:
                return await getattr(replica.stub, method)(
                    message, timeout=budget, metadata=metadata or None)
            except grpc.aio.AioRpcError as exc:
                failure = _rpc_failure(exc)
            budget = deadline - loop.time()
            if not failure.unavailable or attempt + 1 == len(self.replicas) or budget <= 0:
                raise failure
        raise CallFailed("no replica")  # pragma: no cover

    async def close(self) -> None:
        await asyncio.gather(*(replica.close() for replica in self.replicas),
                             return_exceptions=True)

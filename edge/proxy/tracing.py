"""Per-request tracing: a W3C ``traceparent`` always, OpenTelemetry spans when sampled.

Every proxied request carries a ``traceparent`` to the upstream: the incoming trace (its id and
flags) when the client sent a valid one, a new trace id otherwise. Spans are the tracer
provider's business (set up by :mod:`edgeway.common.telemetry`, parent-based ratio sampling from
``OTEL_TRACES_SAMPLER``/``OTEL_TRACES_SAMPLER_ARG``): a SERVER span ``edgeway.edge.request`` per
request and, only when that span is recorded, a CLIENT child ``edgeway.upstream`` around the
upstream call — never more than two spans per request. With no SDK installed (the API's
no-op provider) no span object is made at all; the ids are generated here.

Sampling decided here, for speed: asking the SDK costs several microseconds even for a trace it
will not record. When the provider's sampler is the usual parent-based one (sampled parent:
record; unsampled parent: do not; a new trace: a trace-id ratio, always or never), the edge
takes the same decision itself — an unsampled parent is followed, and a new trace id is drawn
and compared with the ratio's bound exactly as ``TraceIdRatioBased`` does — and calls the SDK
only for traces that are recorded (a new recorded trace keeps the id drawn here). Any other
sampler gets every request, as before.

Telemetry never breaks a request: a failing tracer is logged once and tracing goes on without
spans.
"""

from __future__ import annotations

import random
import re
from typing import Any, Final

import structlog
from opentelemetry import trace
from opentelemetry.trace import (
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    Tracer,
    TracerProvider,
)

__all__ = ["RequestTrace", "Tracing", "parse_traceparent"]

log = structlog.get_logger(__name__)

_TRACEPARENT: Final = re.compile(
    rb"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?")
_getrandbits: Final = random.getrandbits
_LOW64: Final = (1 << 64) - 1
_ZERO_TRACE: Final = b"0" * 32
_ZERO_SPAN: Final = b"0" * 16


def parse_traceparent(value: bytes) -> tuple[bytes, bytes, bytes] | None:
    """``(trace id, parent span id, flags)`` as lower-case hex of a valid ``traceparent``."""
    found = _TRACEPARENT.fullmatch(value.strip())
    if found is None:
        return None
    version, trace_id, span_id, flags, rest = found.groups()
    if version == b"ff" or (version == b"00" and rest) or trace_id == _ZERO_TRACE:
        return None
    if span_id == _ZERO_SPAN:
        return None
    return trace_id, span_id, flags


def _hex(value: int, size: int) -> bytes:
    """``value`` as ``2 * size`` lower-case hex digits (cheaper than ``%032x``)."""
    return value.to_bytes(size, "big").hex().encode()


def _traceparent(context: SpanContext) -> bytes:
    return b"00-%032x-%016x-%02x" % (context.trace_id, context.span_id, context.trace_flags)


class RequestTrace:
    """The trace of one request: its trace id, the server span (or none) and the upstream's
    ``traceparent``."""


    def __init__(self, tracing: Tracing, trace_id: bytes, flags: bytes, span: trace.Span | None):
        self.tracing = tracing
        self.trace_id = trace_id
        self.flags = flags
        self.span = span
        self.client: trace.Span | None = None

    def upstream(self, method: str, host: str, port: int) -> bytes:
        """The ``traceparent`` for the upstream call, starting its span when recording."""
        span = self.span
        if span is None:
            return b"00-" + self.trace_id + b"-" + _hex(_getrandbits(64) or 1, 8) + b"-" \
                + self.flags
        tracer = self.tracing.tracer
        if tracer is None or not span.is_recording():
            return _traceparent(span.get_span_context())
        try:
            self.client = client = tracer.start_span(
                "edgeway.upstream",
                context=trace.set_span_in_context(span),
                kind=SpanKind.CLIENT,
                attributes={
                    "http.request.method": method, "server.address": host, "server.port": port,
                },
            )  # fmt: skip
            return _traceparent(client.get_span_context())
        except Exception as exc:
            self.tracing.failed(exc)
            return _traceparent(span.get_span_context())

    def parent(self) -> str:
        """A ``traceparent`` naming the request's span as the parent (for plugin calls: their
        spans become its children); a fresh span id in the trace when no span is recorded."""
        span = self.span
        if span is None:
            span_id = (_getrandbits(64) or 1).to_bytes(8, "big").hex()
            return "00-" + self.trace_id.decode() + "-" + span_id + "-" + self.flags.decode()
        return _traceparent(span.get_span_context()).decode()

    def end_upstream(self, status: int, error: str = "") -> None:
        client = self.client
        if client is None:
            return
        self.client = None
        try:
            if status:
                client.set_attribute("http.response.status_code", status)
            if error or status >= 500:
                client.set_status(Status(StatusCode.ERROR, error or None))
            client.end()
        except Exception as exc:
            self.tracing.failed(exc)

    def end(self, status: int, route: str | None, version: int | None, error: str = "") -> None:
        """End the request's spans (the upstream one first, if still open)."""
        if self.client is not None:
            self.end_upstream(0, error or "request ended before the upstream answered")
        span = self.span
        if span is None or not span.is_recording():
            return
        try:
            span.set_attribute("http.response.status_code", status)
            if route is not None:
                span.set_attribute("http.route", route)
            if version is not None:
                span.set_attribute("edgeway.config_version", version)
            if status >= 500 or error:
                span.set_status(Status(StatusCode.ERROR, error or None))
            span.end()
        except Exception as exc:
            self.tracing.failed(exc)


class _PresetTraceIds:
    """The tracer's id generator, except that the next trace id can be given (the one the
    edge drew when it decided to record a new trace)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.next = 0

    def generate_trace_id(self) -> int:
        value, self.next = self.next, 0
        return value or int(self.inner.generate_trace_id())

    def generate_span_id(self) -> int:
        return int(self.inner.generate_span_id())

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _root_bound(tracer: Tracer) -> int | None:
    """The bound below which a new trace id is recorded, when ``tracer`` samples the usual
    parent-based way (see the module docstring); ``None`` otherwise."""
    try:
        from opentelemetry.sdk.trace import sampling
    except ImportError:  # pragma: no cover - the SDK is a dependency
        return None
    sampler = getattr(tracer, "sampler", None)
    if not isinstance(sampler, sampling.ParentBased) or not hasattr(tracer, "id_generator"):
        return None
    if getattr(sampler, "_remote_parent_sampled", None) is not sampling.ALWAYS_ON or getattr(
        sampler, "_remote_parent_not_sampled", None
    ) is not sampling.ALWAYS_OFF:
        return None
    root = getattr(sampler, "_root", None)
    if isinstance(root, sampling.TraceIdRatioBased):
        return int(root.bound)
    if root is sampling.ALWAYS_ON:
        return 1 << 64
    if root is sampling.ALWAYS_OFF:
        return 0
    return None


class Tracing:
    """Starts request traces with ``provider``, or the global tracer provider as it is when
    :meth:`refresh` runs (the proxy calls it when it starts and when it installs a config
    version: looking the global provider up costs about a microsecond, too much per
    request)."""


    def __init__(self, provider: TracerProvider | None = None) -> None:
        self._fixed = provider
        self._provider: object = None
        self._warned = False
        self.tracer: Tracer | None = None
        self._bound: int | None = None
        self._ids: _PresetTraceIds | None = None
        self.refresh()

    def refresh(self) -> None:
        """Look up the tracer provider again (``None`` tracer: no SDK, no spans)."""
        provider = self._fixed or trace.get_tracer_provider()
        if provider is not self._provider:
            self._provider = provider
            no_sdk = isinstance(provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider)
            self.tracer = tracer = None if no_sdk else provider.get_tracer("edgeway.edge.proxy")
            self._bound = self._ids = None
            if tracer is not None:
                self._bound = _root_bound(tracer)
                if self._bound is not None:
                    ids = self._ids = _PresetTraceIds(tracer.id_generator)  # type: ignore[attr-defined]
                    tracer.id_generator = ids  # type: ignore[attr-defined]

    def start(self, traceparent: bytes | None, method: str, path: str, host: str) -> RequestTrace:
        """The trace of a new request (``traceparent`` is the incoming header, if any)."""
        parent = parse_traceparent(traceparent) if traceparent else None
        tracer = self.tracer
        if tracer is None:
            if parent is None:
                return RequestTrace(self, _hex(_getrandbits(128) or 1, 16), b"00", None)
            return RequestTrace(self, parent[0], parent[2], None)
        bound = self._bound
        if bound is not None:
            if parent is None:
                drawn = _getrandbits(128) or 1
                if drawn & _LOW64 >= bound:
                    return RequestTrace(self, _hex(drawn, 16), b"00", None)
                assert self._ids is not None
                self._ids.next = drawn  # recorded: the SDK's root span takes this id
            elif not int(parent[2], 16) & 1:
                return RequestTrace(self, parent[0], parent[2], None)
        try:
            context = None
            if parent is not None:
                remote = SpanContext(
                    int(parent[0], 16), int(parent[1], 16), is_remote=True,
                    trace_flags=TraceFlags(int(parent[2], 16)),
                )  # fmt: skip
                context = trace.set_span_in_context(NonRecordingSpan(remote))
            span = tracer.start_span("edgeway.edge.request", context=context, kind=SpanKind.SERVER)
            if span.is_recording():
                span.set_attributes({
                    "http.request.method": method, "url.path": path, "server.address": host,
                })  # fmt: skip
            ids = span.get_span_context()
            return RequestTrace(self, b"%032x" % ids.trace_id, b"%02x" % ids.trace_flags, span)
        except Exception as exc:
            self.failed(exc)
            trace_id = parent[0] if parent else _hex(_getrandbits(128) or 1, 16)
            return RequestTrace(self, trace_id, parent[2] if parent else b"00", None)

    def failed(self, exc: Exception) -> None:
        """Log a tracer failure once; requests go on."""
        if not self._warned:
            self._warned = True
            log.warning("tracing failed; requests continue", error=repr(exc))

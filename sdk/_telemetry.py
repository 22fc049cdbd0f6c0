"""Logs and traces of a plugin service: structlog JSON lines, spans continuing the edge's trace.

Every hook call runs in a span ``edgeway.plugin <name> <phase>`` (kind SERVER) whose parent is
the caller's span, taken from the W3C ``traceparent``/``tracestate`` of the call (gRPC metadata
for unary calls, the call message on the Exchange stream). The SDK needs only the
OpenTelemetry API: when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set and the OpenTelemetry SDK and
OTLP exporter are installed, :func:`configure_tracing` exports spans there; otherwise spans are
whatever tracer provider the author installed (none: no-op). Telemetry never raises.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager
from typing import Any

import structlog
from opentelemetry import propagate, trace
from opentelemetry.context import Context

__all__ = ["configure_logging", "configure_tracing", "context_of", "span", "tracing"]

log = structlog.get_logger("edgeway.sdk")

_TRACER = trace.get_tracer("edgeway.sdk")
_KEYS = frozenset({"traceparent", "tracestate"})
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
           "error": logging.ERROR}


def context_of(pairs: Iterable[tuple[str, Any]] | Mapping[str, str]) -> Context | None:
    """The caller's trace context from metadata pairs or a ``trace_context`` map."""
    items = pairs.items() if isinstance(pairs, Mapping) else pairs
    carrier = {key: str(value) for key, value in items if key in _KEYS}
    return propagate.extract(carrier) if carrier else None


def tracing() -> bool:
    """Whether spans are recorded: a tracer provider was installed (by :func:`configure_tracing`
    or by the author). Without one, calls skip reading the trace context and opening spans."""
    return not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


def span(plugin: str, phase: str, parent: Context | None) -> AbstractContextManager[trace.Span]:
    """The span of one hook call, a child of the caller's span when one was sent."""
    return _TRACER.start_as_current_span(
        f"edgeway.plugin {plugin} {phase}", context=parent, kind=trace.SpanKind.SERVER,
        attributes={"edgeway.plugin": plugin, "edgeway.phase": phase},
    )  # fmt: skip


def configure_logging(level: str = "info") -> None:
    """JSON log lines on stderr, unless the author configured structlog already."""
    if structlog.is_configured():
        return
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS.get(level, logging.INFO)),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )


def configure_tracing(service_name: str) -> Callable[[], None] | None:
    """Export spans over OTLP when ``OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT`` is set and nobody
    installed a tracer provider; return the function that flushes and stops it."""
    endpoint = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT")
    if not endpoint or not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        return None
    try:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        name = os.environ.get("OTEL_SERVICE_NAME", service_name)
        provider = TracerProvider(resource=Resource.create({SERVICE_NAME: name}))
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        trace.set_tracer_provider(provider)
    except Exception as exc:  # an optional extra: never take the plugin down
        log.warning("tracing not exported", error=str(exc), endpoint=endpoint,
                    hint="pip install opentelemetry-sdk opentelemetry-exporter-otlp-proto-grpc")
        return None
    log.info("tracing enabled", endpoint=endpoint, service=name)
    return provider.shutdown


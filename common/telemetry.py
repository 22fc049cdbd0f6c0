"""OpenTelemetry tracing set-up, configured by the standard ``OTEL_*`` environment variables.

With ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) set, spans are
exported over OTLP/gRPC in batches; otherwise nothing is exported and spans are not recorded.
The sampler is the SDK's, so ``OTEL_TRACES_SAMPLER=parentbased_traceidratio`` with
``OTEL_TRACES_SAMPLER_ARG`` sets the ratio. Set-up never raises: a broken exporter is logged
and tracing stays a no-op.
"""

from __future__ import annotations

import os

import structlog
from opentelemetry import trace

log = structlog.get_logger(__name__)

_configured = False


def configure_tracing(service_name: str) -> bool:
    """Install a tracer provider for ``service_name``; return whether spans are exported."""
    global _configured
    if _configured:
        return True
    endpoint = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT")
    if not endpoint:
        return False
    try:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        resource = Resource.create({SERVICE_NAME: os.environ.get("OTEL_SERVICE_NAME",
                                                                 service_name)})
        provider = TracerProvider(resource=resource)
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        trace.set_tracer_provider(provider)
    except Exception as exc:  # telemetry must never take the process down
        log.warning("tracing disabled", error=str(exc), endpoint=endpoint)
        return False
    _configured = True
    log.info("tracing enabled", endpoint=endpoint, service=service_name)
    return True


def shutdown_tracing() -> None:
    """Flush and stop the exporter, if one was installed."""
    provider = trace.get_tracer_provider()
    shutdown = getattr(provider, "shutdown", None)
    if callable(shutdown):
        try:
            shutdown()
        except Exception as exc:
            log.warning("tracing shutdown failed", error=str(exc))

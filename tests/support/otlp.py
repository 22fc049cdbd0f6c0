"""A real OTLP/gRPC trace receiver for tests: processes under test export spans to it.

It runs the collector's ``TraceService`` on a loopback port and keeps every span received, so a
test can check names and parent/child links across processes.
"""

from __future__ import annotations

import threading
import time
from concurrent import futures
from dataclasses import dataclass

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc


@dataclass(frozen=True)
class ReceivedSpan:
    name: str
    service: str
    trace_id: str
    span_id: str
    parent_span_id: str
    kind: int
    attributes: dict[str, object]


class _Service(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, sink: OtlpReceiver) -> None:
        self.sink = sink

    def Export(self, request: trace_service_pb2.ExportTraceServiceRequest,  # noqa: N802
               context: grpc.ServicerContext) -> trace_service_pb2.ExportTraceServiceResponse:
        for resource_spans in request.resource_spans:
            service = next((a.value.string_value for a in resource_spans.resource.attributes
                            if a.key == "service.name"), "")
            for scope in resource_spans.scope_spans:
                for span in scope.spans:
                    attrs = {a.key: getattr(a.value, a.value.WhichOneof("value") or "string_value")
                             for a in span.attributes}
                    self.sink.add(ReceivedSpan(span.name, service, span.trace_id.hex(),
                                               span.span_id.hex(), span.parent_span_id.hex(),
                                               span.kind, attrs))
        return trace_service_pb2.ExportTraceServiceResponse()


class OtlpReceiver:
    """Start with :meth:`start`, point OTEL_EXPORTER_OTLP_ENDPOINT at :attr:`endpoint`."""

    def __init__(self) -> None:
        self._spans: list[ReceivedSpan] = []
        self._lock = threading.Lock()
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(  # type: ignore[no-untyped-call]
            _Service(self), self._server)
        self.port = self._server.add_insecure_port("127.0.0.1:0")

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self, service: str) -> dict[str, str]:
        """Environment for a process that should export here quickly."""
        return {"OTEL_EXPORTER_OTLP_ENDPOINT": self.endpoint, "OTEL_EXPORTER_OTLP_INSECURE": "true",
                "OTEL_SERVICE_NAME": service, "OTEL_BSP_SCHEDULE_DELAY": "100",
                "OTEL_TRACES_SAMPLER": "parentbased_always_on"}

    def start(self) -> None:
        self._server.start()

    def stop(self) -> None:
        self._server.stop(grace=None)

    def add(self, span: ReceivedSpan) -> None:
        with self._lock:
            self._spans.append(span)

    def spans(self) -> list[ReceivedSpan]:
        with self._lock:
            return list(self._spans)

    def wait_for(self, name: str, *, count: int = 1, timeout: float = 10.0) -> list[ReceivedSpan]:
        """Spans called ``name`` once at least ``count`` have arrived (raises on timeout)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [s for s in self.spans() if s.name == name]
            if len(found) >= count:
                return found
            time.sleep(0.05)
        names = sorted({s.name for s in self.spans()})
        raise AssertionError(f"no {count} span(s) {name!r} within {timeout}s; got {names}")

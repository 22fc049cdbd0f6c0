"""Trace context to the upstream always; spans only for sampled traces, at most two a request.

The proxies here get their tracer provider injected: the API's no-op provider (no SDK), or an
SDK provider with a parent-based ratio sampler and an in-memory exporter.
"""

from __future__ import annotations

import io
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import pytest_asyncio
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased, TraceIdRatioBased
from opentelemetry.trace import NoOpTracerProvider, SpanKind

from edgeway.common.config.loading import config_from_dict
from edgeway.edge.accesslog import AccessLog
from edgeway.edge.compile import compile_config
from edgeway.edge.proxy import EdgeProxy
from edgeway.edge.proxy.tracing import parse_traceparent
from tests.edge.client import Response, fetch
from tests.edge.conftest import gateway, upstream_of

pytestmark = pytest.mark.asyncio(loop_scope="module")

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"
TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")


@dataclass
class Traced:
    proxy: EdgeProxy
    port: int
    spans: InMemorySpanExporter | None
    log: io.StringIO
    access_log: AccessLog


async def start(upstream: int, provider: TracerProvider | NoOpTracerProvider,
                spans: InMemorySpanExporter | None) -> Traced:
    log = io.StringIO()
    access_log = AccessLog(log)
    proxy = EdgeProxy(node_id="n", stage="s", region="r", access_log=access_log,
                      tracer_provider=provider)
    config = gateway(
        [{"id": "api", "paths": ["/"], "upstream": "u"},
         {"id": "mock", "paths": ["/mock"], "mock": {"body": "m"}}],
        [upstream_of("u", [upstream])],
    )  # fmt: skip
    proxy.swap(compile_config(config_from_dict(config)), version=3, config_hash="h")
    return Traced(proxy, await proxy.start("127.0.0.1", 0), spans, log, access_log)


@pytest_asyncio.fixture(loop_scope="module")
async def no_sdk(upstream: int) -> AsyncIterator[Traced]:
    traced = await start(upstream, NoOpTracerProvider(), None)
    yield traced
    await traced.proxy.stop(1.0)
    await traced.access_log.close()


def sdk_provider(ratio: float) -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    root = ALWAYS_ON if ratio >= 1 else TraceIdRatioBased(ratio)
    provider = TracerProvider(sampler=ParentBased(root))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


@pytest_asyncio.fixture(loop_scope="module")
async def sdk_ratio_0(upstream: int) -> AsyncIterator[Traced]:
    provider, exporter = sdk_provider(0.0)
    traced = await start(upstream, provider, exporter)
    yield traced
    await traced.proxy.stop(1.0)
    await traced.access_log.close()


@pytest_asyncio.fixture(loop_scope="module")
async def sdk_ratio_1(upstream: int) -> AsyncIterator[Traced]:
    provider, exporter = sdk_provider(1.0)
    traced = await start(upstream, provider, exporter)
    yield traced
    await traced.proxy.stop(1.0)
    await traced.access_log.close()


def sent_traceparent(response: Response) -> tuple[str, str, str]:
    values = [v for name, v in response.json()["headers"] if name.lower() == "traceparent"]
    assert len(values) == 1
    found = TRACEPARENT.fullmatch(values[0])
    assert found is not None, values[0]
    trace_id, parent, flags = found.groups()
    return trace_id, parent, flags


async def logged_trace_id(traced: Traced) -> str:
    await traced.access_log.flush()
    import json

    trace_id: str = json.loads(traced.log.getvalue().splitlines()[-1])["trace_id"]
    return trace_id


async def test_traceparent_parsing_is_strict() -> None:  # async: the module runs on uvloop
    assert parse_traceparent(f"00-{TRACE}-{PARENT}-01".encode()) == (
        TRACE.encode(), PARENT.encode(), b"01")
    for bad in [f"00-{TRACE.upper()}-{PARENT}-01", f"00-{'0' * 32}-{PARENT}-01",
                f"00-{TRACE}-{'0' * 16}-01", f"ff-{TRACE}-{PARENT}-01", f"00-{TRACE}-{PARENT}-01-x",
                f"00-{TRACE}-{PARENT}", "garbage"]:
        assert parse_traceparent(bad.encode()) is None, bad
    assert parse_traceparent(f"01-{TRACE}-{PARENT}-01-future".encode()) is not None


async def test_without_an_sdk_an_incoming_trace_is_continued(no_sdk: Traced) -> None:
    response = await fetch(no_sdk.port, "GET", "/",
                           headers=[("traceparent", f"00-{TRACE}-{PARENT}-01")])
    trace_id, parent, flags = sent_traceparent(response)
    assert (trace_id, flags) == (TRACE, "01")
    assert parent != PARENT  # the edge is a hop of its own
    assert await logged_trace_id(no_sdk) == TRACE


async def test_without_an_sdk_a_trace_is_started_when_none_came(no_sdk: Traced) -> None:
    first = sent_traceparent(await fetch(no_sdk.port, "GET", "/"))
    assert await logged_trace_id(no_sdk) == first[0]
    second = sent_traceparent(await fetch(no_sdk.port, "GET", "/"))
    assert first[0] != second[0]
    invalid = await fetch(no_sdk.port, "GET", "/", headers=[("traceparent", "00-nope-01")])
    assert sent_traceparent(invalid)[0] not in (first[0], second[0])


async def test_a_sampled_incoming_trace_is_recorded_as_server_and_client_spans(
    sdk_ratio_0: Traced,
) -> None:
    assert sdk_ratio_0.spans is not None
    sdk_ratio_0.spans.clear()
    response = await fetch(sdk_ratio_0.port, "GET", "/x",
                           headers=[("traceparent", f"00-{TRACE}-{PARENT}-01")])
    trace_id, parent, flags = sent_traceparent(response)
    spans: dict[str, ReadableSpan] = {s.name: s for s in sdk_ratio_0.spans.get_finished_spans()}
    assert set(spans) == {"edgeway.edge.request", "edgeway.upstream"}
    server, client = spans["edgeway.edge.request"], spans["edgeway.upstream"]
    assert server.kind is SpanKind.SERVER
    assert client.kind is SpanKind.CLIENT
    assert server.parent is not None
    assert f"{server.parent.span_id:016x}" == PARENT
    assert client.parent is not None
    assert client.parent.span_id == server.context.span_id
    assert f"{server.context.trace_id:032x}" == trace_id == TRACE
    assert (parent, flags) == (f"{client.context.span_id:016x}", "01")
    assert server.attributes is not None
    assert server.attributes["http.route"] == "api"
    assert server.attributes["http.response.status_code"] == 200
    assert server.attributes["edgeway.config_version"] == 3


async def test_an_unsampled_trace_records_nothing_but_still_propagates(
    sdk_ratio_0: Traced,
) -> None:
    assert sdk_ratio_0.spans is not None
    sdk_ratio_0.spans.clear()
    response = await fetch(sdk_ratio_0.port, "GET", "/",
                           headers=[("traceparent", f"00-{TRACE}-{PARENT}-00")])
    assert sent_traceparent(response)[0::2] == (TRACE, "00")
    fresh = sent_traceparent(await fetch(sdk_ratio_0.port, "GET", "/"))
    assert int(fresh[2], 16) & 1 == 0  # ratio 0: a new trace is not sampled
    assert sdk_ratio_0.spans.get_finished_spans() == ()


async def test_a_local_answer_records_only_the_server_span(sdk_ratio_1: Traced) -> None:
    assert sdk_ratio_1.spans is not None
    sdk_ratio_1.spans.clear()
    response = await fetch(sdk_ratio_1.port, "GET", "/mock")
    assert response.status == 200
    spans = sdk_ratio_1.spans.get_finished_spans()
    assert [s.name for s in spans] == ["edgeway.edge.request"]
    assert spans[0].parent is None  # a new root: no traceparent came in


async def test_an_upstream_failure_marks_both_spans_as_errors(
    sdk_ratio_1: Traced,
) -> None:
    assert sdk_ratio_1.spans is not None
    sdk_ratio_1.spans.clear()
    response = await fetch(sdk_ratio_1.port, "GET", "/__reset")
    assert response.status == 502
    spans = {s.name: s for s in sdk_ratio_1.spans.get_finished_spans()}
    assert not spans["edgeway.upstream"].status.is_ok
    assert not spans["edgeway.edge.request"].status.is_ok

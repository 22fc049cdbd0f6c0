"""A push continues the deploy's trace; a payload is built once and parses as one ConfigPush."""

from __future__ import annotations

import asyncio

from opentelemetry import propagate, trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from edgeway.controlplane.discovery.payloads import PushCache, build_payload
from edgeway.controlplane.store import EtcdStore
from edgeway.v1.discovery_pb2 import ServerMessage
from tests.discovery.conftest import StartEdge, StartReplica
from tests.discovery.helpers import eventually, good_config, rendered_hash


def _named(exporter: InMemorySpanExporter, name: str) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if s.name == name]


async def test_a_push_carries_the_deploys_trace_and_the_edges_apply_joins_it(
    store: EtcdStore, start_replica: StartReplica, start_edge: StartEdge
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    await store.create_version(good_config(1), author="t", message="m")
    with tracer.start_as_current_span("operator deploy") as deploy_span:
        context: dict[str, str] = {}
        propagate.inject(context)
    deploy = deploy_span.get_span_context()
    # The store keeps the context; another replica's push (it reads etcd, not memory) uses it.
    await store.deploy("dev", 1, author="t", message="m", trace_context=context)
    replica = await start_replica(tracer=tracer)
    edge = await start_edge("edge-1", "dev", [replica.address],
                            client_options={"tracer": tracer})
    await eventually(lambda: len(_named(exporter, "edgeway.push")) == 1
                     and len(_named(exporter, "edgeway.edge.apply")) == 1, what="spans")

    [push] = edge.pushes
    assert push.trace_context["traceparent"].split("-")[1] == format(deploy.trace_id, "032x")
    [push_span] = _named(exporter, "edgeway.push")
    [apply_span] = _named(exporter, "edgeway.edge.apply")
    assert push_span.parent is not None
    assert apply_span.parent is not None
    assert push_span.context.trace_id == apply_span.context.trace_id == deploy.trace_id
    assert push_span.parent.span_id == deploy.span_id
    assert apply_span.parent.span_id == push_span.context.span_id
    assert push_span.attributes is not None
    assert push_span.attributes["edgeway.version"] == 1
    assert push_span.status.status_code != trace.StatusCode.ERROR


async def test_the_shared_payload_plus_an_edges_tail_parses_as_one_push(store: EtcdStore) -> None:
    await store.create_version(good_config(1), author="t", message="m")
    payload = build_payload("prod", await store.get_version(1))
    message = ServerMessage.FromString(payload.for_edge("n-7", {"traceparent": "00-ab-cd-01"}))
    push = message.push
    assert (push.stage, push.version, push.nonce) == ("prod", 1, "n-7")
    assert push.hash == payload.hash == rendered_hash(good_config(1), "prod")
    assert dict(push.trace_context) == {"traceparent": "00-ab-cd-01"}
    assert list(push.config.routes[0].hosts) == ["prod.example.com"]


async def test_a_payload_is_built_once_for_every_edge_of_the_stage(store: EtcdStore) -> None:
    await store.create_version(good_config(1), author="t", message="m")
    cache = PushCache(store.get_version, capacity=2)
    try:
        first, *others = await asyncio.gather(*(cache.get("dev", 1) for _ in range(20)))
        assert all(p is first for p in others)
        assert cache.builds == 1
        await cache.get("prod", 1)
        await cache.get("staging", 1)
        await cache.get("dev", 1)  # evicted by capacity 2: built again
        assert cache.builds == 4
    finally:
        await cache.close()

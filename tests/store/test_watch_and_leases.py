"""Watching stages (snapshot, changes, resume without loss, compaction), leases, trace context."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator

import aetcd
import pytest

from edgeway.controlplane.etcd_server import EmbeddedEtcd
from edgeway.controlplane.store import EtcdStore, StageChanges
from edgeway.controlplane.store.client import EtcdClient, Put, WatchCompacted, prefix_end
from tests.store.configs import small_config
from tests.store.tcpproxy import TcpProxy

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


async def _versions(store: EtcdStore, count: int) -> None:
    for n in range(count):
        await store.create_version(small_config(n), author="t", message=str(n))


async def _next(changes: AsyncGenerator[StageChanges, None]) -> StageChanges:
    async with asyncio.timeout(5):
        return await anext(changes)


async def test_deploy_promote_and_rollback_keep_the_trace_context_given(store: EtcdStore) -> None:
    await _versions(store, 2)
    context = {"traceparent": TRACEPARENT, "tracestate": "vendor=1"}
    deployed = await store.deploy("dev", 1, author="a", message="m", trace_context=context)
    await store.deploy("dev", 2, author="a", message="m", trace_context={})
    promoted = await store.promote("dev", "prod", author="a", message="m", trace_context=context)
    back = await store.rollback("dev", author="a", message="m", trace_context=context)
    assert deployed.trace_context == promoted.trace_context == back.trace_context == context
    assert (await store.get_stage("prod")).trace_context == context
    assert (await store.get_stage("dev")).trace_context == context
    assert [d.trace_context for d in await store.history("dev")] == [context, {}, context]
    assert "trace_context" not in back.as_dict()


async def test_without_a_trace_context_the_callers_current_span_is_kept(store: EtcdStore) -> None:
    from opentelemetry import trace
    from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

    await _versions(store, 1)
    parent = SpanContext(trace_id=0x0AF7651916CD43DD8448EB211C80319C, span_id=0xB7AD6B7169203331,
                         is_remote=False, trace_flags=TraceFlags(TraceFlags.SAMPLED))
    with trace.use_span(NonRecordingSpan(parent)):
        deployed = await store.deploy("dev", 1, author="a", message="m")
    assert deployed.trace_context["traceparent"].split("-")[1] == format(parent.trace_id, "032x")


async def test_watch_stages_starts_with_a_snapshot_then_yields_each_change(
    store: EtcdStore,
) -> None:
    await _versions(store, 3)
    await store.deploy("dev", 1, author="a", message="m")
    async with contextlib.aclosing(store.watch_stages()) as changes:
        first = await _next(changes)
        assert first.snapshot
        assert [(s.name, s.version) for s in first.stages] == [("dev", 1)]
        await store.deploy("dev", 2, author="a", message="m",
                           trace_context={"traceparent": TRACEPARENT})
        await store.promote("dev", "prod", author="a", message="m")
        seen: list[tuple[str, int | None]] = []
        while len(seen) < 2:
            change = await _next(changes)
            assert not change.snapshot
            assert change.revision > first.revision
            seen.extend((s.name, s.version) for s in change.stages)
        assert seen == [("dev", 2), ("prod", 2)]


async def test_a_dropped_watch_stream_resumes_without_losing_or_repeating_a_change(
    etcd_server: EmbeddedEtcd, etcd_prefix: str
) -> None:
    async with TcpProxy(etcd_server.endpoint) as proxy:
        watcher = EtcdClient([proxy.endpoint], timeout=2.0)
        writer = EtcdClient([etcd_server.endpoint])
        prefix = f"{etcd_prefix}/w/".encode()
        try:
            _, revision = await watcher.snapshot(prefix)
            got: list[bytes] = []
            enough, arrived = asyncio.Event(), asyncio.Event()

            async def consume() -> None:
                watch = watcher.watch(prefix, prefix_end(prefix), start_revision=revision + 1,
                                      progress_interval=0.5)
                async with contextlib.aclosing(watch) as batches:
                    async for batch in batches:
                        got.extend(e.key for e in batch.events)
                        arrived.set()
                        if len(got) >= 20:
                            enough.set()

            consumer = asyncio.create_task(consume())
            try:
                for round_ in range(4):
                    for n in range(5):
                        await writer.put(prefix + b"%d-%d" % (round_, n), b"x")
                    if round_ < 3:
                        # Cut once the watch has seen this round, so a live stream is dropped;
                        # the next round is written while it is down.
                        async with asyncio.timeout(10):
                            while len(got) < 5 * (round_ + 1):
                                arrived.clear()
                                await arrived.wait()
                        await proxy.cut()
                async with asyncio.timeout(10):
                    await enough.wait()
            finally:
                consumer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await consumer
            assert got == [prefix + b"%d-%d" % (r, n) for r in range(4) for n in range(5)]
            assert proxy.connections >= 4
        finally:
            await watcher.close()
            await writer.close()


async def test_a_watch_on_a_silent_connection_notices_and_resumes_elsewhere(
    etcd_server: EmbeddedEtcd, etcd_prefix: str
) -> None:
    async with TcpProxy(etcd_server.endpoint) as proxy:
        watcher = EtcdClient([proxy.endpoint], timeout=0.5)
        writer = EtcdClient([etcd_server.endpoint])
        key = f"{etcd_prefix}/silent".encode()
        try:
            _, revision = await watcher.snapshot(key)
            watch = watcher.watch(key, prefix_end(key), start_revision=revision + 1,
                                  progress_interval=0.3)
            async with contextlib.aclosing(watch) as batches:
                await writer.put(key, b"1")
                async with asyncio.timeout(5):
                    assert [e.value for e in (await anext(batches)).events] == [b"1"]
                await proxy.freeze()  # the connection stays open; nothing gets through
                await writer.put(key, b"2")
                started = asyncio.get_running_loop().time()
                async with asyncio.timeout(5):
                    batch = await anext(batches)
                took = asyncio.get_running_loop().time() - started
            assert [e.value for e in batch.events] == [b"2"]
            assert took < 3.0
            print(f"\nsilent watch stream replaced after {took:.2f}s")
        finally:
            await watcher.close()
            await writer.close()


async def test_a_watch_from_a_compacted_revision_says_so(
    etcd_server: EmbeddedEtcd, etcd_prefix: str, etcd_client: EtcdClient
) -> None:
    key = f"{etcd_prefix}/c".encode()
    await etcd_client.put(key, b"1")
    _, old = await etcd_client.snapshot(key)
    await etcd_client.put(key, b"2")
    _, now = await etcd_client.snapshot(key)
    raw = aetcd.Client(*etcd_server.endpoint.split(":"))
    try:
        await raw.compact(now)
    finally:
        await raw.close()
    with pytest.raises(WatchCompacted, match="compacted"):
        async with contextlib.aclosing(
            etcd_client.watch(key, prefix_end(key), start_revision=old)
        ) as batches:
            await anext(batches)


async def test_a_leased_key_lives_while_kept_alive_and_goes_with_its_lease(
    etcd_client: EtcdClient, etcd_prefix: str
) -> None:
    key = f"{etcd_prefix}/leased".encode()
    lease = await etcd_client.grant_lease(5)
    await etcd_client.txn([], [Put(key, b"here", lease=lease)])
    assert 0 < await etcd_client.keepalive_lease(lease) <= 5
    assert (await etcd_client.get(key)) is not None
    await etcd_client.revoke_lease(lease)
    assert await etcd_client.get(key) is None
    assert await etcd_client.keepalive_lease(lease) == 0
    await etcd_client.revoke_lease(lease)  # revoking twice is fine

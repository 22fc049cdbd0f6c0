"""The access log: one JSON line per request with the documented fields, written off the loop
in batches, bounded when the stream does not keep up."""

from __future__ import annotations

import asyncio
import io
import json
import threading

import pytest

from edgeway.edge.accesslog import AccessLog
from tests.edge.client import Client, fetch
from tests.edge.conftest import RunningEdge, gateway, upstream_of

pytestmark = pytest.mark.asyncio(loop_scope="module")

FIELDS = ["ts", "request_id", "client_ip", "method", "path", "route", "status", "bytes",
          "latency_ms", "upstream_ms", "version", "trace_id"]


async def test_each_request_is_one_line_with_every_field(edge: RunningEdge, upstream: int) -> None:
    version = edge.swap(gateway([{"id": "api", "paths": ["/api"], "upstream": "u"}],
                                [upstream_of("u", [upstream])]))
    ok = await fetch(edge.port, "POST", "/api/x?q=1", body=b"hello")
    missing = await fetch(edge.port, "GET", "/nowhere")
    first, second = await edge.log_lines()
    assert list(first) == [*FIELDS, "node", "stage", "region"]
    assert first["request_id"] == ok.header("x-request-id")
    assert (first["method"], first["path"], first["route"], first["status"]) == (
        "POST", "/api/x", "api", 200)
    assert first["client_ip"] == "127.0.0.1"
    assert first["version"] == version
    assert first["bytes"] > len(ok.body)
    assert 0 < first["upstream_ms"] <= first["latency_ms"]
    assert len(first["trace_id"]) == 32
    assert (first["node"], first["stage"], first["region"]) == ("test-node", "test", "local")
    assert first["ts"].endswith("Z")
    assert list(second) == [*FIELDS, "error", "node", "stage", "region"]
    assert (second["route"], second["status"], second["upstream_ms"]) == (None, 404, None)
    assert second["request_id"] == missing.header("x-request-id")


async def test_a_path_a_client_controls_is_escaped(edge: RunningEdge) -> None:
    edge.swap({"routes": [{"id": "m", "paths": ["/"], "mock": {"body": "ok"}}]})
    async with await Client.open(edge.port) as client:
        await client.request("GET", '/a"b\\c')
    (line,) = await edge.log_lines()
    assert line["path"] == '/a"b\\c'


async def test_an_unparsable_request_is_logged_too(edge: RunningEdge) -> None:
    async with await Client.open(edge.port) as client:
        await client.send(b"NOT HTTP AT ALL\r\n\r\n")
        assert (await client.response()).status == 400
    (line,) = await edge.log_lines()
    assert (line["status"], line["route"], line["path"]) == (400, None, "-")


async def test_lines_are_written_within_the_flush_interval_without_asking() -> None:
    stream = io.StringIO()
    log = AccessLog(stream, flush_interval=0.05)
    log.log("id", "1.2.3.4", "GET", "/", "r", 200, 10, 1.0, 0.5, 1, "t" * 32)
    assert stream.getvalue() == ""  # buffered, not written on the loop
    for _ in range(50):
        await asyncio.sleep(0.02)
        if stream.getvalue():
            break
    assert json.loads(stream.getvalue())["request_id"] == "id"
    await log.close()


async def test_a_full_buffer_is_handed_off_at_once_and_binary_streams_work() -> None:
    stream = io.BytesIO()
    log = AccessLog(stream, flush_interval=60, buffer_bytes=2000)
    for index in range(25):
        log.log(f"id{index}", "1.2.3.4", "GET", "/", None, 200, 10, 1.0, None, None, "")
    for _ in range(50):
        await asyncio.sleep(0.02)
        if stream.getvalue():
            break
    written = stream.getvalue().decode().splitlines()
    assert 0 < len(written) < 25  # whole buffers, not waiting for the 60 s interval
    await log.close()
    assert len(stream.getvalue().decode().splitlines()) == 25


class _BlockedStream(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def write(self, text: str) -> int:
        self.release.wait(10)
        return super().write(text)


async def test_a_stream_that_does_not_keep_up_costs_dropped_lines_not_memory() -> None:
    stream = _BlockedStream()
    log = AccessLog(stream, flush_interval=60, buffer_bytes=1000, max_backlog_bytes=5000)
    for index in range(500):
        log.log(f"id{index}", "1.2.3.4", "GET", "/x" * 10, None, 200, 10, 1.0, None, None, "")
    assert log.dropped > 0
    stream.release.set()
    await log.close()
    assert len(stream.getvalue().splitlines()) + log.dropped == 500


async def test_context_fields_stay_exact_and_their_memo_stays_bounded() -> None:
    """Rendered context fields are memoized by their pairs (a cached verdict repeats them):
    each line still carries its own values, escaped, and the memo never outgrows its limit."""
    from edgeway.edge import accesslog

    stream = io.StringIO()
    log = AccessLog(stream, flush_interval=60)
    contexts = [{"principal": f'user-{index}"\n'} for index in range(accesslog._CONTEXTS.limit + 5)]
    contexts += [{"principal": 'user-0"\n'}, {"principal": "a", "tenant": "t"}]
    for context in contexts:
        log.log("id", "1.2.3.4", "GET", "/", "r", 200, 10, 1.0, 0.5, 1, "t", context=context)
    await log.close()
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["context"] for line in lines] == contexts
    assert 0 < len(accesslog._CONTEXTS) <= accesslog._CONTEXTS.limit


async def test_consumer_fields_stay_exact_and_their_memo_stays_bounded() -> None:
    """The ``consumer`` field is rendered once per consumer: each line still names its own,
    escaped, next to an error when there is one, and the memo never outgrows its limit."""
    from edgeway.edge import accesslog

    stream = io.StringIO()
    log = AccessLog(stream, flush_interval=60)
    names = [f'c-{index}"\n' for index in range(accesslog._CONSUMERS.limit + 5)] + ['c-0"\n']
    for name in names:
        log.log("id", "1.2.3.4", "GET", "/", "r", 200, 10, 1.0, 0.5, 1, "t", consumer=name)
    log.log("id", "1.2.3.4", "GET", "/", "r", 502, 10, 1.0, 0.5, 1, "t", "bad", consumer="acme")
    await log.close()
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["consumer"] for line in lines] == [*names, "acme"]
    assert lines[-1]["error"] == "bad"
    assert 0 < len(accesslog._CONSUMERS) <= accesslog._CONSUMERS.limit

"""Bodies stream through the edge: a 100 MB upload and a 100 MB download through a proxy
running in its own process, whose resident memory is sampled from /proc while they run."""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from httptools import HttpResponseParser

from tests.support.proxy_process import ProxyProcess, rss_kib
from tests.support.upstream import _BLOCK, pattern_sha256

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.slow]

SIZE = 100 * 1024 * 1024
GROWTH_LIMIT_KIB = 20 * 1024


@pytest.fixture(scope="module")
def proxy(upstream: int, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxyProcess]:
    config: Path = tmp_path_factory.mktemp("streaming") / "edge.yaml"
    config.write_text(
        f"upstreams:\n  - name: u\n    targets: [{{address: \"127.0.0.1:{upstream}\"}}]\n"
        "routes:\n  - id: all\n    paths: [\"/\"]\n    upstream: u\n"
        "    limits: {max_body_bytes: 1073741824}\n"  # 1 GiB: above the 100 MB uploads
    )
    process = ProxyProcess(config)
    process.start()
    try:
        yield process
    finally:
        process.stop()


class Sampler:
    """The highest resident memory of a process, sampled every 10 ms in a thread."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = rss_kib(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, rss_kib(self.pid))

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


class _Hashing:
    def __init__(self) -> None:
        self.digest = hashlib.sha256()
        self.size = 0
        self.status = 0
        self.body = b""
        self.done = False
        self.keep = False
        self.parser = HttpResponseParser(self)

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()

    def on_body(self, body: bytes) -> None:
        self.size += len(body)
        self.digest.update(body)
        if self.keep:
            self.body += body

    def on_message_complete(self) -> None:
        self.done = True


async def _read(reader: asyncio.StreamReader, into: _Hashing, pause: float = 0.0) -> None:
    while not into.done:
        data = await reader.read(256 * 1024 if pause else 1024 * 1024)
        if not data:
            raise ConnectionError("closed before the response ended")
        into.parser.feed_data(data)
        if pause:
            await asyncio.sleep(pause)


async def upload(port: int, size: int, *, chunked: bool = False,
                 target: bytes = b"/__upload") -> tuple[int, bytes]:
    """POST ``size`` pattern bytes to ``/__upload`` (with a Content-Length, or chunked); the
    status and the upstream's answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        framing = b"Transfer-Encoding: chunked" if chunked else b"Content-Length: %d" % size
        writer.write(b"POST %s HTTP/1.1\r\nHost: t\r\n%s\r\n\r\n" % (target, framing))
        sent = 0
        while sent < size:
            piece = _BLOCK[: min(len(_BLOCK), size - sent)]
            writer.write(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
            sent += len(piece)
            await writer.drain()
        if chunked:
            writer.write(b"0\r\n\r\n")
        answer = _Hashing()
        answer.keep = True
        await asyncio.wait_for(_read(reader, answer), 60)
        return answer.status, answer.body
    finally:
        writer.close()


async def download(port: int, size: int, *, length: bool = False,
                   pause: float = 0.0) -> tuple[int, int, str]:
    """GET ``size`` streamed bytes (chunked, or with a Content-Length); status, bytes received
    and their sha256."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        query = b"bytes=%d&chunk=262144%s" % (size, b"&length=1" if length else b"")
        writer.write(b"GET /__stream?%s HTTP/1.1\r\nHost: t\r\n\r\n" % query)
        answer = _Hashing()
        await asyncio.wait_for(_read(reader, answer, pause), 60)
        return answer.status, answer.size, answer.digest.hexdigest()
    finally:
        writer.close()


async def test_100_mb_each_way_stream_without_growing_the_edge(proxy: ProxyProcess) -> None:
    # Warm up: pools, buffers and the allocator reach their working size first.
    for chunked in (False, True):
        assert (await upload(proxy.port, 4 * 1024 * 1024, chunked=chunked))[0] == 200
        assert (await download(proxy.port, 4 * 1024 * 1024, length=not chunked))[0] == 200
    baseline = rss_kib(proxy.pid)
    expected = {"size": SIZE, "sha256": pattern_sha256(SIZE)}
    timings: list[str] = []
    with Sampler(proxy.pid) as sampler:
        for chunked in (False, True):
            started = time.monotonic()
            status, answer = await upload(proxy.port, SIZE, chunked=chunked)
            timings.append(f"upload{' chunked' if chunked else ''} "
                           f"{time.monotonic() - started:.2f} s")
            assert status == 200
            assert json.loads(answer) == expected
        for length in (False, True):
            started = time.monotonic()
            result = await download(proxy.port, SIZE, length=length)
            timings.append(f"download{'' if length else ' chunked'} "
                           f"{time.monotonic() - started:.2f} s")
            assert result == (200, SIZE, expected["sha256"])
    growth = sampler.peak - baseline
    print(f"\nedge RSS baseline {baseline} KiB, peak {sampler.peak} KiB, growth {growth} KiB "
          f"over 4 x 100 MB; {', '.join(timings)}")
    assert growth < GROWTH_LIMIT_KIB


async def test_a_slow_reader_on_either_side_holds_the_other_side_back(
    proxy: ProxyProcess,
) -> None:
    """Flow control, not luck: with a reader slower than the sender, a proxy that buffered
    would hold most of the 50 MB."""
    size = 50 * 1024 * 1024
    baseline = rss_kib(proxy.pid)
    with Sampler(proxy.pid) as sampler:
        status, answer = await upload(proxy.port, size, target=b"/__upload?pause_ms=3")
        assert status == 200
        assert json.loads(answer) == {"size": size, "sha256": pattern_sha256(size)}
        result = await download(proxy.port, size, pause=0.003)
        assert result == (200, size, pattern_sha256(size))
    growth = sampler.peak - baseline
    print(f"\nslow readers: edge RSS growth {growth} KiB over 2 x 50 MB")
    assert growth < GROWTH_LIMIT_KIB


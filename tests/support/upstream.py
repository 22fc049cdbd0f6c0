"""A small real upstream for proxy tests, run as its own process (aiohttp, not Edgeway code).

``python -m tests.support.upstream --port P`` serves until SIGTERM and prints ``READY <port>``
once listening (``--port 0`` picks a free port). Endpoints:

- ``/__stream?bytes=N[&chunk=K][&length=1]``: N bytes of :func:`pattern` (chunked, or with a
  Content-Length when ``length=1``);
- ``/__upload[?pause_ms=N]``: reads the request body as it comes (pausing N ms after each
  256 KiB: a slow reader); answers ``{"size", "sha256"}``;
- ``/__delay?ms=N``: waits N ms, then echoes;
- ``/__status/<code>``: echoes with that status;
- ``/__close-mid``: promises 1000 bytes, sends 100 and closes the connection;
- ``/__reset``: closes the connection without answering;
- ``/__garbage``: answers something that is not HTTP;
- ``/__early``: answers 413 at once, without reading the request body;
- ``/__once-per-connection``: echoes the first request of a connection; closes the
  connection unanswered on any later one (an upstream closing an idle keep-alive connection
  just as the edge reuses it);
- ``/__stats``: ``{"requests", "peers", "health_probes", "ws_closed"}``: requests served and
  distinct client connections seen (``?reset=1`` starts counting afresh), health probes
  answered, WebSocket sessions ended;
- ``/__set?fail=MODE&health=STATUS``: from now on every request outside ``/__`` paths fails
  (``MODE`` ``reset``: closed unanswered, a number: that status; ``none``: served again), and
  ``/__health`` answers ``STATUS`` (default 200);
- ``/__health``: the health-check endpoint (see ``/__set``);
- ``/__ws``: a WebSocket echo (text and binary); the text ``close <code>`` makes the server
  close with that code;
- anything else echoes ``{"method", "path", "query", "headers": [[name, value], ...],
  "body", "body_size", "body_sha256", "peer", "port"}``.

:class:`UpstreamProcess` starts and stops one for a test.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

__all__ = ["UpstreamProcess", "pattern", "pattern_sha256"]

_BLOCK = bytes(range(256)) * 256  # 64 KiB


def pattern(size: int) -> bytes:
    """The first ``size`` bytes of the repeating 0..255 pattern ``/__stream`` sends."""
    whole, rest = divmod(size, len(_BLOCK))
    return _BLOCK * whole + _BLOCK[:rest]


def pattern_sha256(size: int) -> str:
    digest = hashlib.sha256()
    left = size
    while left > 0:
        piece = _BLOCK[: min(left, len(_BLOCK))]
        digest.update(piece)
        left -= len(piece)
    return digest.hexdigest()


class _Stats:
    def __init__(self) -> None:
        self.port = 0
        self.requests = 0
        self.peers: set[str] = set()
        self.answered_once: set[str] = set()
        self.fail = "none"
        self.health = 200
        self.health_probes = 0
        self.ws_closed = 0


STATS = web.AppKey("stats", _Stats)


def _peer(request: web.Request) -> str:
    peer = request.transport.get_extra_info("peername") if request.transport else None
    return f"{peer[0]}:{peer[1]}" if peer else "?"


async def echo(request: web.Request, status: int = 200) -> web.Response:
    body = await request.read()
    return web.json_response(
        {
            "method": request.method,
            "path": request.raw_path.partition("?")[0],
            "query": request.raw_path.partition("?")[2],
            "headers": [
                [name.decode("latin-1"), value.decode("latin-1")]
                for name, value in request.raw_headers
            ],
            "body": body[:4096].decode("utf-8", "replace"),
            "body_size": len(body),
            "body_sha256": hashlib.sha256(body).hexdigest(),
            "peer": _peer(request),
            "port": request.app[STATS].port,
        },
        status=status,
    )


async def stream(request: web.Request) -> web.StreamResponse:
    size = int(request.query.get("bytes", "0"))
    chunk = int(request.query.get("chunk", "65536"))
    response = web.StreamResponse()
    if request.query.get("length") == "1":
        response.content_length = size
    else:
        response.enable_chunked_encoding()
    response.content_type = "application/octet-stream"
    await response.prepare(request)
    sent = 0
    block = pattern(len(_BLOCK) + chunk)  # any offset into the pattern plus one chunk
    while sent < size:
        piece = min(chunk, size - sent)
        offset = sent % len(_BLOCK)
        await response.write(block[offset : offset + piece])
        sent += piece
    await response.write_eof()
    return response


async def upload(request: web.Request) -> web.Response:
    pause = int(request.query.get("pause_ms", "0")) / 1000
    digest = hashlib.sha256()
    size = 0
    async for piece in request.content.iter_chunked(256 * 1024):
        digest.update(piece)
        size += len(piece)
        if pause:
            await asyncio.sleep(pause)
    return web.json_response({"size": size, "sha256": digest.hexdigest()})


async def delay(request: web.Request) -> web.Response:
    await asyncio.sleep(int(request.query.get("ms", "0")) / 1000)
    return await echo(request)


async def with_headers(request: web.Request) -> web.Response:
    """200 with each query parameter as a response header, spelled as given."""
    return web.Response(text="ok", headers=[(name, value) for name, value in request.query.items()])


async def status(request: web.Request) -> web.Response:
    return await echo(request, int(request.match_info["code"]))


async def _raw(request: web.Request, data: bytes) -> web.Response:
    transport = request.transport
    assert transport is not None
    if data:
        transport.write(data)
    await asyncio.sleep(0.01)
    transport.close()
    raise asyncio.CancelledError  # the connection is gone: nothing more to send


async def close_mid(request: web.Request) -> web.Response:
    head = b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\ncontent-type: text/plain\r\n\r\n"
    return await _raw(request, head + b"x" * 100)


async def reset(request: web.Request) -> web.Response:
    return await _raw(request, b"")


async def garbage(request: web.Request) -> web.Response:
    return await _raw(request, b"this is not HTTP\r\n\r\n")


async def once_per_connection(request: web.Request) -> web.Response:
    answered = request.app[STATS].answered_once
    peer = _peer(request)
    if peer in answered:
        return await _raw(request, b"")  # as if it closed the idle connection just now
    answered.add(peer)
    return await echo(request)


async def early(request: web.Request) -> web.Response:
    return web.json_response({"error": "too large"}, status=413, headers={"connection": "close"})


async def stats(request: web.Request) -> web.Response:
    counted = request.app[STATS]
    answer = {"requests": counted.requests, "peers": len(counted.peers),
              "health_probes": counted.health_probes, "ws_closed": counted.ws_closed}
    if request.query.get("reset") == "1":
        counted.requests, counted.peers = 0, set()
        counted.health_probes = counted.ws_closed = 0
    return web.json_response(answer)


async def set_mode(request: web.Request) -> web.Response:
    counted = request.app[STATS]
    counted.fail = request.query.get("fail", counted.fail)
    counted.health = int(request.query.get("health", str(counted.health)))
    return web.json_response({"fail": counted.fail, "health": counted.health})


async def health(request: web.Request) -> web.Response:
    counted = request.app[STATS]
    counted.health_probes += 1
    return web.json_response({"health": counted.health}, status=counted.health)


async def websocket(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    try:
        async for message in ws:
            if message.type == web.WSMsgType.TEXT:
                if message.data.startswith("close "):
                    await ws.close(code=int(message.data.split()[1]), message=b"bye")
                    break
                await ws.send_str(message.data)
            elif message.type == web.WSMsgType.BINARY:
                await ws.send_bytes(message.data)
    finally:
        request.app[STATS].ws_closed += 1
    return ws


@web.middleware
async def count(request: web.Request, handler: Any) -> web.StreamResponse:
    counted = request.app[STATS]
    if not request.path.startswith("/__"):
        if counted.fail == "reset":
            counted.requests += 1
            return await _raw(request, b"")
        if counted.fail.isdigit():
            counted.requests += 1
            return await echo(request, int(counted.fail))
    if request.path not in ("/__stats", "/__set", "/__health"):
        counted.requests += 1
        counted.peers.add(_peer(request))
    response: web.StreamResponse = await handler(request)
    return response


def make_app() -> web.Application:
    app = web.Application(middlewares=[count], client_max_size=1024**3)
    app[STATS] = _Stats()
    app.router.add_route("*", "/__stream", stream)
    app.router.add_route("*", "/__upload", upload)
    app.router.add_route("*", "/__delay", delay)
    app.router.add_route("*", "/__status/{code}", status)
    app.router.add_route("*", "/__with-headers", with_headers)
    app.router.add_route("*", "/__close-mid", close_mid)
    app.router.add_route("*", "/__reset", reset)
    app.router.add_route("*", "/__garbage", garbage)
    app.router.add_route("*", "/__early", early)
    app.router.add_route("*", "/__once-per-connection", once_per_connection)
    app.router.add_route("GET", "/__stats", stats)
    app.router.add_route("GET", "/__set", set_mode)
    app.router.add_route("GET", "/__health", health)
    app.router.add_route("GET", "/__ws", websocket)
    app.router.add_route("*", "/{tail:.*}", echo)
    return app


async def serve(host: str, port: int) -> None:
    app = make_app()
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=1024)
    await site.start()
    bound = int(runner.addresses[0][1])
    app[STATS].port = bound
    print(f"READY {bound}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    await stop.wait()
    await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    asyncio.run(serve(args.host, args.port))


@dataclass
class UpstreamProcess:
    """A running upstream process (``start()`` returns once it listens)."""

    port: int = 0
    process: subprocess.Popen[str] | None = field(default=None, init=False)

    def start(self, timeout: float = 15.0) -> int:
        root = Path(__file__).resolve().parents[2]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.upstream", "--port", str(self.port)],
            cwd=root, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
        assert self.process.stdout is not None
        line = _readline(self.process, timeout)
        if not line.startswith("READY "):
            self.stop()
            raise RuntimeError(f"upstream did not start: {line!r}")
        self.port = int(line.split()[1])
        return self.port

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stdout is not None:
            process.stdout.close()


def _readline(process: subprocess.Popen[str], timeout: float) -> str:
    """The first line the process prints, or ``""`` after ``timeout`` seconds."""
    import selectors

    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            return ""
    return process.stdout.readline().strip()


if __name__ == "__main__":
    main()

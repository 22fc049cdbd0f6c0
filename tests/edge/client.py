"""A raw HTTP/1.1 test client on asyncio streams: exact bytes out, every response detail in.

Tests need what a friendly client hides: keep-alive on one connection, chunked uploads,
HTTP/1.0, malformed requests, ``Expect: 100-continue``, paths sent as written (``/a/../b``)
and whether the server closed the connection. Responses are parsed with llhttp.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import deque
from collections.abc import AsyncIterable, Iterable
from dataclasses import dataclass, field
from typing import Any

from httptools import HttpResponseParser

__all__ = ["Client", "Response", "fetch"]


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    interim: list[int] = field(default_factory=list)
    """Statuses of 1xx responses received before this one."""

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (any case)."""
        name = name.lower()
        return next((value for key, value in self.headers if key == name), None)

    def all(self, name: str) -> list[str]:
        name = name.lower()
        return [value for key, value in self.headers if key == name]

    def json(self) -> Any:
        return json.loads(self.body)


class _Collector:
    """Collects responses from one connection's byte stream (pipelined ones included)."""

    def __init__(self) -> None:
        self.parser = HttpResponseParser(self)
        self.responses: deque[Response] = deque()
        self.head_only = False
        """The next response answers a HEAD request: it ends with its headers."""
        self.reset = False
        self._start()

    def _start(self) -> None:
        self.headers: list[tuple[str, str]] = []
        self.body: list[bytes] = []
        self.status = 0
        self.interim: list[int] = []

    def on_message_begin(self) -> None:
        self.headers = []

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.decode("latin-1").lower(), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if status < 200:
            self.interim.append(status)
            return
        self.status = status
        if self.head_only:
            self.head_only = False
            self.reset = True  # llhttp would wait for the body the headers announce
            self.finish()

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        if self.status and not self.reset:
            self.finish()

    def finish(self) -> None:
        self.responses.append(Response(self.status, self.headers, b"".join(self.body),
                                       self.interim))
        self._start()

    def feed(self, data: bytes) -> None:
        self.parser.feed_data(data)
        if self.reset:
            self.reset = False
            self.parser = HttpResponseParser(self)


class Client:
    """One client connection (keep-alive unless the server closes it)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.collector = _Collector()
        self.eof = False

    @classmethod
    async def open(cls, port: int, host: str = "127.0.0.1") -> Client:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 5)
        return cls(reader, writer)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def request(
        self,
        method: str,
        target: str,
        *,
        headers: Iterable[tuple[str, str]] = (),
        body: bytes | AsyncIterable[bytes] | None = None,
        chunked: bool = False,
        version: str = "1.1",
        host: str | None = "test.local",
        within: float = 10.0,
    ) -> Response:
        lines = [f"{method} {target} HTTP/{version}"]
        if host is not None:
            lines.append(f"Host: {host}")
        lines += [f"{name}: {value}" for name, value in headers]
        if chunked:
            lines.append("Transfer-Encoding: chunked")
        elif isinstance(body, bytes):
            lines.append(f"Content-Length: {len(body)}")
        await self.send(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        if isinstance(body, bytes):
            await self.send(b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body) if chunked else body)
        elif body is not None:
            async for piece in body:
                await self.send(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
            if chunked:
                await self.send(b"0\r\n\r\n")
        return await self.response(head_only=method == "HEAD", within=within)

    async def response(self, *, head_only: bool = False, within: float = 10.0) -> Response:
        """The next response (1xx interim responses are collected into it)."""
        collector = self.collector
        collector.head_only = collector.head_only or head_only
        async with asyncio.timeout(within):
            while not collector.responses:
                data = await self.reader.read(256 * 1024)
                if not data:
                    self.eof = True
                    if collector.status:  # a close-delimited body ends here
                        collector.finish()
                        break
                    raise ConnectionError("the server closed the connection")
                collector.feed(data)
        return collector.responses.popleft()

    async def closed_by_server(self, within: float = 5.0) -> bool:
        """Whether the server closes the connection within ``within`` seconds (no more
        data)."""
        if self.eof:
            return True
        try:
            async with asyncio.timeout(within):
                data = await self.reader.read(1)
        except TimeoutError:
            return False
        except ConnectionError:
            return True
        return data == b""

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(TimeoutError, ConnectionError):
            await asyncio.wait_for(self.writer.wait_closed(), 2)

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


async def fetch(port: int, method: str, target: str, **kwargs: Any) -> Response:
    """One request on a fresh connection."""
    client = await Client.open(port)
    try:
        return await client.request(method, target, **kwargs)
    finally:
        await client.close()

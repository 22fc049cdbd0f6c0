"""The pipe between an edge's supervisor and one of its workers: framed messages.

Each message is a JSON header (a dict with a ``type``) and an optional binary payload (a
config's canonical bytes), framed as two big-endian 32-bit lengths followed by both. One
:class:`Channel` per worker, over a Unix socket pair made by the supervisor; writes are
serialized and each has a deadline, reads end with :class:`EOFError` when the other side is gone.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
from typing import Any

__all__ = ["Channel", "Message"]

_FRAME = struct.Struct("!II")
MAX_HEADER = 1024 * 1024
MAX_PAYLOAD = 1024 * 1024 * 1024
WRITE_TIMEOUT = 30.0

Message = tuple[dict[str, Any], bytes]


class Channel:
    """One end of a supervisor-worker pipe."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, sock: socket.socket) -> Channel:
        reader, writer = await asyncio.open_unix_connection(sock=sock, limit=1024 * 1024)
        return cls(reader, writer)

    async def send(self, header: dict[str, Any], payload: bytes = b"") -> None:
        data = json.dumps(header, separators=(",", ":")).encode()
        async with self._lock, asyncio.timeout(WRITE_TIMEOUT):
            self._writer.write(_FRAME.pack(len(data), len(payload)) + data)
            if payload:
                self._writer.write(payload)
            await self._writer.drain()

    async def receive(self) -> Message:
        """The next message; :class:`EOFError` when the other side closed."""
        try:
            sizes = await self._reader.readexactly(_FRAME.size)
            header_size, payload_size = _FRAME.unpack(sizes)
            if header_size > MAX_HEADER or payload_size > MAX_PAYLOAD:
                raise EOFError(f"a frame of {header_size}+{payload_size} bytes: not ours")
            header = json.loads(await self._reader.readexactly(header_size))
            payload = await self._reader.readexactly(payload_size) if payload_size else b""
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            raise EOFError("the other side closed the channel") from exc
        if not isinstance(header, dict):
            raise EOFError("a message header that is not an object")
        return header, payload

    def close(self) -> None:
        self._writer.close()

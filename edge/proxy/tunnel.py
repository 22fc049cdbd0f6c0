"""A raw byte tunnel between a client and an upstream connection, after a ``101``.

Once the upstream switched protocols (a WebSocket handshake), the edge stops parsing: bytes
from either side are written to the other as they come, frames and close frames included.
Flow control still holds: a side whose write buffer passes its high-water mark stops the
other side from being read until it drains. When either side closes, the other is closed
after what it still has to write (a WebSocket close frame, relayed before, ends the session
cleanly on both sides). Tunnels stay open while the proxy drains at shutdown, until the drain
timeout aborts them with every other connection.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from edgeway.edge.proxy.client import ClientConnection
    from edgeway.edge.proxy.upstream import UpstreamConnection

__all__ = ["PAUSE_TUNNEL", "Tunnel"]

PAUSE_TUNNEL: Final = 16
"""The client-reading pause bit of a tunnel whose upstream does not keep up."""


class Tunnel:
    """See the module docstring. The connections call in; nothing here runs on its own."""


    def __init__(self, client: ClientConnection, upstream: UpstreamConnection) -> None:
        self.client = client
        self.upstream = upstream
        upstream.tunnel = self

    def from_client(self, data: bytes) -> None:
        self.upstream.write(data)

    def from_upstream(self, data: bytes) -> None:
        self.client.write(data)

    def client_paused(self, paused: bool) -> None:
        """The client's write buffer is full (or drained): stop (resume) reading upstream."""
        self.upstream.set_reading(paused)

    def upstream_paused(self, paused: bool) -> None:
        if paused:
            self.client.pause(PAUSE_TUNNEL)
        else:
            self.client.resume(PAUSE_TUNNEL)

    def client_closed(self) -> None:
        self.upstream.close()

    def upstream_closed(self) -> None:
        self.client.close()

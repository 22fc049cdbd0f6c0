"""What every connection of one proxy shares: the current config, pools, tracing, the log.

The :class:`Runtime` is the one mutable hub: :class:`~.server.EdgeProxy` changes ``config`` with
one assignment on a swap, connections read it when a request starts (and keep the version they
started with until that request ends). Every task the proxy starts is created through
:meth:`Runtime.spawn`, so shutdown can cancel and await all of them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from edgeway.edge.accesslog import AccessLog
from edgeway.edge.balancing import LiveUpstreams
from edgeway.edge.compile.model import RequestLimits
from edgeway.edge.proxy.deadlines import Deadlines
from edgeway.edge.proxy.prepared import PreparedConfig
from edgeway.edge.proxy.tracing import Tracing
from edgeway.edge.proxy.upstream import TargetPool

if TYPE_CHECKING:
    from edgeway.edge.proxy.client import ClientConnection

__all__ = ["Runtime"]


class Runtime:
    """Shared state of one proxy; see the module docstring."""

    def __init__(self, tracing: Tracing, access_log: AccessLog | None) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.deadlines: Deadlines
        """Request timeouts (made when the proxy starts, on its loop)."""
        self.config: PreparedConfig | None = None
        self.tracing = tracing
        self.access_log = access_log
        self.connections: set[ClientConnection] = set()
        self.tasks: set[asyncio.Task[Any]] = set()
        self.pools: dict[str, TargetPool] = {}
        self.live = LiveUpstreams()
        """Target health, breakers, retry budgets and probers, across config versions."""
        self.limits = RequestLimits()
        """The limits of the config being served (defaults before the first)."""
        self.draining = False
        self.drained = asyncio.Event()
        """Set when draining and the last client connection closed."""

    def connection_closed(self, conn: ClientConnection) -> None:
        self.connections.discard(conn)
        if self.draining and not self.connections:
            self.drained.set()

    def spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Start an owned task: tracked until done, cancelled on shutdown."""
        assert self.loop is not None, "the proxy is not started"
        task = self.loop.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

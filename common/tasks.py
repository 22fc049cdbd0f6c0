"""Stopping helper tasks without swallowing the caller's own cancellation.

``task.cancel()`` then ``with contextlib.suppress(asyncio.CancelledError): await task`` is the
usual way to stop a helper task, and it has a trap: if the *caller* is cancelled while it waits
there, that ``CancelledError`` is suppressed too, and a caller that loops (a watch retrying
etcd, a discovery client reconnecting) goes on as if nothing happened. A control plane whose
etcd died at the moment it was told to stop kept retrying etcd forever that way.
"""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["stop_tasks"]


async def stop_tasks(*tasks: asyncio.Task[Any]) -> None:
    """Cancel ``tasks`` and wait until every one is done, whatever it raised (their exceptions
    are retrieved, so none is reported as never retrieved). A cancellation of the caller while
    it waits propagates."""
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.wait(tasks)
    for task in tasks:
        if not task.cancelled():
            task.exception()

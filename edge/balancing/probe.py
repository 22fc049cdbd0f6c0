"""Active health checks: one prober task per upstream per edge process, HTTP probes.

Every ``interval_ms`` the prober sends ``GET <path>`` to each target of its upstream at once,
on a fresh connection (``Connection: close``, ``Host`` the target's address), and reads the
status line within ``timeout_ms``. A status in ``healthy_statuses`` is a success; anything else
(another status, refused, reset, timed out, not HTTP) a failure. ``healthy_threshold``
consecutive successes make an unhealthy target healthy again, ``unhealthy_threshold``
consecutive failures take a healthy one out (:meth:`TargetState.probed`). The first round
starts at once.

The proxy owns the probers (:mod:`.live`): a config swap keeps a prober whose upstream, check
and targets did not change, cancels the others and starts the new ones; stopping the proxy
cancels them all and awaits them.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Sequence

import structlog

from edgeway.edge.balancing.state import TargetState
from edgeway.edge.compile.model import ActiveHealthCheck

__all__ = ["ProbeTarget", "Prober", "probe"]

log = structlog.get_logger(__name__)

ProbeTarget = tuple[str, int, str, TargetState]
"""``(host, port, address, state)`` of one target to probe."""


async def probe(host: str, port: int, address: str, path: str, within: float,
                tls: ssl.SSLContext | None = None) -> int:
    """One probe: the status code answered within ``within`` seconds, or raise (``OSError``,
    ``TimeoutError``, ``ValueError`` for an answer that is not HTTP)."""
    async with asyncio.timeout(within):
        reader, writer = await asyncio.open_connection(
            host, port, ssl=tls, server_hostname=host if tls is not None else None
        )
        try:
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {address}\r\nUser-Agent: "
                         "edgeway-health-check\r\nConnection: close\r\n\r\n".encode())
            line = await reader.readline()
        finally:
            writer.close()
            with contextlib.suppress(OSError, TimeoutError):
                await asyncio.wait_for(writer.wait_closed(), 0.5)
    parts = line.split(None, 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
        raise ValueError(f"not an HTTP status line: {line[:60]!r}")
    return int(parts[1])


class Prober:
    """The active checks of one upstream; see the module docstring."""

    def __init__(self, upstream: str, check: ActiveHealthCheck, targets: Sequence[ProbeTarget],
                 tls: ssl.SSLContext | None) -> None:
        self.upstream = upstream
        self.check = check
        self.targets = tuple(targets)
        self.tls = tls
        self.identity = (check, tls is not None,
                         tuple((host, port, address) for host, port, address, _ in targets))
        """Two probers with the same identity probe the same way: a swap keeps the first."""
        self.rounds = 0
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(
            self._run(), name=f"health checks of {self.upstream}"
        )

    def cancel(self) -> asyncio.Task[None] | None:
        """Cancel the checks; return the task to await (``None`` if never started)."""
        task, self.task = self.task, None
        if task is not None:
            task.cancel()
        return task

    async def _run(self) -> None:
        interval = self.check.interval_ms / 1000
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            await asyncio.gather(*(self._one(target) for target in self.targets))
            self.rounds += 1
            await asyncio.sleep(max(0.0, started + interval - loop.time()))

    async def _one(self, target: ProbeTarget) -> None:
        host, port, address, state = target
        check = self.check
        why = ""
        try:
            status = await probe(host, port, address, check.path, check.timeout_ms / 1000,
                                 self.tls)
            ok = status in check.healthy_statuses
            why = f"status {status}"
        except TimeoutError:
            ok, why = False, f"no answer within {check.timeout_ms} ms"
        except (OSError, ValueError) as exc:
            ok, why = False, str(exc) or type(exc).__name__
        verdict = state.probed(ok, check)
        if verdict is not None:
            log.warning("upstream target " + ("healthy again" if verdict else "unhealthy"),
                        upstream=self.upstream, target=address, last_probe=why)

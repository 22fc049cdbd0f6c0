"""Multi-worker edge nodes: one supervisor process, N worker processes (``--workers N``).

- :class:`Supervisor`: the node's discovery stream, disk cache and admin port; hands every
  config to the workers and ACKs only what all of them installed; restarts dead workers
  (:mod:`.supervisor`);
- :mod:`.worker`: a worker process, serving with its own proxy on a ``SO_REUSEPORT`` socket;
- :class:`Channel`: the framed messages between them (:mod:`.channel`).
"""

from edgeway.edge.workers.channel import Channel
from edgeway.edge.workers.supervisor import ConfigItem, Supervisor, WorkerHandle

__all__ = ["Channel", "ConfigItem", "Supervisor", "WorkerHandle"]

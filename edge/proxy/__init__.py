"""The edge's HTTP reverse proxy: uvloop-ready asyncio Protocols with llhttp on both sides.

- :class:`EdgeProxy` serves a compiled config version, swaps versions atomically, reports
  per-version traffic and shuts down gracefully (:mod:`.server`);
- :class:`PreparedConfig` is a version made ready to serve (:mod:`.prepared`).

Inside: the client-facing protocol (:mod:`.client`), a parsed request head (:mod:`.request`),
one request's lifecycle (:mod:`.exchange`), its attempts and retries (:mod:`.attempts`) and its
forwarding (:mod:`.forward`), upstream keep-alive pools (:mod:`.upstream`), WebSocket tunnels
(:mod:`.tunnel`), shared timeout slots (:mod:`.deadlines`), header rules (:mod:`.headers`),
local responses and errors (:mod:`.local`, :mod:`.errors`), tracing (:mod:`.tracing`) and fixed
limits (:mod:`.limits`). Balancing, health, breakers and retry budgets live in
:mod:`edgeway.edge.balancing`.
"""

from edgeway.edge.proxy.prepared import PreparedConfig
from edgeway.edge.proxy.server import EdgeProxy

__all__ = ["EdgeProxy", "PreparedConfig"]

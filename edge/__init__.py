"""The data plane: edge nodes that serve HTTP with the policies of a compiled config.

- :mod:`.compile` — the pure compile step (config to immutable routes, upstream pools and
  policy chains; no I/O): the only part of the edge the control plane imports;
- :mod:`.policies` — the built-in policies and their registry;
- :mod:`.routing`, :mod:`.proxy` — the router and the HTTP data path (uvloop, httptools);
- :mod:`.balancing` — load balancing, health checks, circuit breakers, retry budgets;
- :mod:`.discovery` — the config stream from the control plane and the disk cache;
- :mod:`.node`, :mod:`.cli` — one edge process wired together (``edgeway edge``);
- :mod:`.workers` — a supervisor and worker processes (``edgeway edge --workers N``);
- :mod:`.accesslog`, :mod:`.admin` — the access log and the admin port.
"""

from edgeway.edge import native

native.guard()  # a stale compiled data path must not run: see edge/native.py

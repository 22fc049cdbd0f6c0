"""The edge's router: compiled once per config version, then only read.

- :func:`normalize_path` / :func:`normalize_host` put a request's path and host in the form
  routes are matched in (and the path in the form it is forwarded in), once per request;
- :class:`Router` (built by :func:`compile_router` from a ``CompiledConfig``) finds the best
  route for a host, method, path and header/query conditions, with the route's path
  parameters; its module documents the ranking and the deterministic tie-break.

Path matching agrees with the reference :meth:`PathPattern.match` of the compile model.
"""

from edgeway.edge.routing.normalize import normalize_host, normalize_path
from edgeway.edge.routing.router import RouteHit, Router, compile_router, path_rank
from edgeway.edge.routing.trie import ConditionSource, served_methods

__all__ = [
    "ConditionSource",
    "RouteHit",
    "Router",
    "compile_router",
    "normalize_host",
    "normalize_path",
    "path_rank",
    "served_methods",
]

"""The data plane: edge nodes that serve HTTP with the policies of a compiled config.

Today this holds the pure compile step (:mod:`edgeway.edge.compile`: config to immutable
routes, upstream pools and policy chains, no I/O; the only part of the edge the control plane
imports) and the built-in policies (:mod:`edgeway.edge.policies`). The discovery client, proxy,
plugin client and disk cache come next.
"""

"""Admin API hook of the fleet registry: ``GET /v1/nodes`` (aiohttp routes to add to the app).

``GET /v1/nodes`` answers ``{"nodes": [record, ...]}``, sorted by stage, region and node id;
``?stage=NAME`` keeps one stage's nodes. A record is what
:class:`~edgeway.controlplane.discovery.session.EdgeSession` writes: node_id, region, stage,
build, version, hash, desired_version, desired_hash, status, last_ack, nack, nack_hash, replica,
connected_at, last_seen, traffic. Store errors go through the admin app's error middleware.
"""

from __future__ import annotations

from aiohttp import web

from edgeway.controlplane.admin.errors import json_response
from edgeway.controlplane.admin.handlers import OPERATIONS
from edgeway.controlplane.discovery.registry import list_nodes

__all__ = ["routes"]

routes = web.RouteTableDef()


@routes.get("/v1/nodes", name="list_nodes")
async def get_nodes(request: web.Request) -> web.Response:
    nodes = await list_nodes(request.app[OPERATIONS].store)
    stage = request.query.get("stage")
    if stage:
        nodes = [n for n in nodes if n.get("stage") == stage]
    return json_response({"nodes": nodes})

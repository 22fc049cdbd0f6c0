"""The edge's admin port: ``/healthz``, ``/readyz`` and ``/config`` (aiohttp, off the data path).

``/healthz`` answers while the process runs; ``/readyz`` only once a config is loaded (so a load
balancer sends no traffic to an edge that would answer 503); ``/config`` tells which stage,
version and hash the edge serves and where the config came from.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping

from aiohttp import web

Snapshot = Callable[[], Mapping[str, object]]
"""Returns the edge's state: stage, region, node_id, version, hash, source, loaded_at, ..."""


def _json(data: object, status: int = 200) -> web.Response:
    return web.Response(text=json.dumps(data), status=status, content_type="application/json")


def build_edge_admin_app(snapshot: Snapshot) -> web.Application:
    """The admin application over ``snapshot``; ``version`` None means no config yet."""

    async def healthz(request: web.Request) -> web.Response:
        return _json({"status": "ok"})

    async def readyz(request: web.Request) -> web.Response:
        state = snapshot()
        if state.get("version") is None:
            return _json({"status": "not ready", "code": "no_config",
                          "message": "no config loaded yet"}, status=503)
        return _json({"status": "ready", "version": state["version"]})

    async def config(request: web.Request) -> web.Response:
        return _json(dict(snapshot()))

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/config", config)
    return app

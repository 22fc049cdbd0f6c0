"""The demo upstream of ``edgeway dev``: a tiny users service to proxy to.

``GET /users`` lists users, ``GET /users/{id}`` returns one (404 JSON otherwise),
``POST /users`` echoes the JSON it receives with a new id, ``GET /healthz`` answers ok. Every
answer says which instance served it and the headers the gateway added (``x-forwarded-*``,
``traceparent``, ``x-request-id``), so a person trying the gateway sees what it does.
"""

from __future__ import annotations

import itertools
import json

import click
from aiohttp import web

from edgeway.common.net import parse_hostport

_USERS = {1: {"id": 1, "name": "Ada Lovelace"}, 2: {"id": 2, "name": "Alan Turing"}}
_NAME = web.AppKey("name", str)
_SHOWN_HEADERS = ("x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "forwarded",
                  "traceparent", "x-request-id", "host")


def _answer(request: web.Request, data: object, status: int = 200) -> web.Response:
    seen = {h: request.headers[h] for h in _SHOWN_HEADERS if h in request.headers}
    body = {"data": data, "served_by": request.app[_NAME], "path": request.path_qs,
            "gateway_headers": seen}
    return web.Response(text=json.dumps(body), status=status, content_type="application/json")


async def _list(request: web.Request) -> web.Response:
    return _answer(request, list(_USERS.values()))


async def _one(request: web.Request) -> web.Response:
    user_id = request.match_info["id"]
    user = _USERS.get(int(user_id)) if user_id.isdigit() else None
    if user is None:
        return _answer(request, {"error": f"no user {user_id}"}, status=404)
    return _answer(request, user)


async def _health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def demo_upstream_app(name: str = "demo-upstream") -> web.Application:
    app = web.Application()
    app[_NAME] = name
    ids = itertools.count(3)

    async def create(request: web.Request) -> web.Response:
        try:
            data = await request.json()
        except ValueError:
            return _answer(request, {"error": "send a JSON object"}, status=400)
        fields = data if isinstance(data, dict) else {"value": data}
        return _answer(request, {"id": next(ids), **fields}, status=201)

    app.router.add_get("/users", _list)
    app.router.add_post("/users", create)
    app.router.add_get("/users/{id}", _one)
    app.router.add_get("/healthz", _health)
    return app


@click.command("demo-upstream")
@click.option("--listen", default="127.0.0.1:8001", show_default=True, metavar="HOST:PORT")
@click.option("--name", default="demo-upstream", show_default=True,
              help="reported in every answer as served_by")
def demo_upstream_command(listen: str, name: str) -> None:
    """Run the demo users service on its own (what `edgeway dev` proxies to)."""
    try:
        host, port = parse_hostport(listen)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--listen") from None
    web.run_app(demo_upstream_app(name), host=host, port=port, access_log=None,
                print=lambda _: click.echo(f"demo upstream {name!r} on http://{host}:{port}"))

"""Admin API handlers for ``/v1/versions``, ``/v1/diff`` and ``/v1/stages``.

Handlers read and check input, call :class:`~edgeway.controlplane.operations.Operations` and
shape the JSON; they hold no logic of their own.
"""

from __future__ import annotations

from aiohttp import web

from edgeway.common.config.loading import config_to_dict
from edgeway.controlplane.admin.errors import ApiError, json_response
from edgeway.controlplane.admin.requests import (
    author_of,
    positive_int,
    read_json_object,
    require_int,
    text_param,
)
from edgeway.controlplane.operations import ConfigFormat, Operations
from edgeway.controlplane.store import Deployment, Stage

OPERATIONS: web.AppKey[Operations] = web.AppKey("operations", Operations)

YAML_TYPES = {"application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml",
              "text/plain"}
MAX_PAGE = 500

routes = web.RouteTableDef()


def _ops(request: web.Request) -> Operations:
    return request.app[OPERATIONS]


def _page(request: web.Request) -> tuple[int, int | None]:
    limit = positive_int(request.query.get("limit"), "limit", default=50, maximum=MAX_PAGE)
    assert limit is not None
    return limit, positive_int(request.query.get("before"), "before")


@routes.post("/v1/versions", name="apply")
async def create_version(request: web.Request) -> web.Response:
    ops = _ops(request)
    if request.content_type == "application/json":
        body = await read_json_object(request, {"config": dict, "message": str, "author": str},
                                      required=("config",))
        result = await ops.apply_dict(body["config"], author=author_of(request, body),
                                      message=text_param(request, "message", body))
    elif request.content_type in YAML_TYPES or request.content_type == "application/octet-stream":
        fmt: ConfigFormat | None = None
        result = await ops.apply_text(await request.read(), fmt=fmt,
                                      author=author_of(request),
                                      message=text_param(request, "message"))
    else:
        raise ApiError(415, "unsupported_media_type",
                       f"send the config as application/yaml or as application/json "
                       f"{{\"config\": ...}}, not {request.content_type}")
    meta = result.version
    return json_response({"version": meta.number, "created": result.created, "hash": meta.hash,
                          "parent": meta.parent, "message": meta.message,
                          "info": meta.as_dict()}, status=201 if result.created else 200)


@routes.get("/v1/versions", name="list_versions")
async def list_versions(request: web.Request) -> web.Response:
    limit, before = _page(request)
    metas = await _ops(request).store.list_versions(limit=limit, before=before)
    next_before = metas[-1].number if len(metas) == limit and metas[-1].number > 1 else None
    return json_response({"versions": [m.as_dict() for m in metas], "next_before": next_before})


@routes.get("/v1/versions/{number}", name="get_version")
async def get_version(request: web.Request) -> web.Response:
    number = require_int(request.match_info["number"], "version")
    version = await _ops(request).store.get_version(number)
    return json_response({**version.meta.as_dict(), "config": config_to_dict(version.config)})


@routes.get("/v1/diff", name="diff")
async def diff(request: web.Request) -> web.Response:
    old = positive_int(request.query.get("from"), "from")
    new = positive_int(request.query.get("to"), "to")
    if old is None or new is None:
        raise ApiError(400, "invalid_request", "query parameters 'from' and 'to' are required")
    return json_response(await _ops(request).diff(old, new))


async def _stage_json(ops: Operations, stage: Stage) -> dict[str, object]:
    data = stage.as_dict()
    data["hash"] = (await ops.store.get_version_meta(stage.version)).hash if stage.version else None
    return data


async def _deployment_answer(ops: Operations, deployment: Deployment) -> web.Response:
    stage = await ops.store.get_stage(deployment.stage)
    return json_response({"stage": await _stage_json(ops, stage),
                          "deployment": deployment.as_dict()})


@routes.get("/v1/stages", name="list_stages")
async def list_stages(request: web.Request) -> web.Response:
    ops = _ops(request)
    return json_response({"stages": [await _stage_json(ops, s)
                                     for s in await ops.store.list_stages()]})


@routes.put("/v1/stages/{stage}", name="create_stage")
async def create_stage(request: web.Request) -> web.Response:
    ops = _ops(request)
    stage = await ops.store.create_stage(request.match_info["stage"], author=author_of(request))
    return json_response(await _stage_json(ops, stage), status=201)


@routes.get("/v1/stages/{stage}", name="get_stage")
async def get_stage(request: web.Request) -> web.Response:
    ops = _ops(request)
    return json_response(await _stage_json(ops, await ops.store.get_stage(
        request.match_info["stage"])))


@routes.post("/v1/stages/{stage}/deploy", name="deploy")
async def deploy(request: web.Request) -> web.Response:
    ops = _ops(request)
    body = await read_json_object(request, {"version": int, "message": str, "author": str},
                                  required=("version",))
    number = require_int(str(body["version"]), "version")
    deployment = await ops.deploy(request.match_info["stage"], number,
                                  author=author_of(request, body),
                                  message=text_param(request, "message", body))
    return await _deployment_answer(ops, deployment)


@routes.post("/v1/stages/{stage}/promote", name="promote")
async def promote(request: web.Request) -> web.Response:
    ops = _ops(request)
    body = await read_json_object(request, {"from": str, "message": str, "author": str},
                                  required=("from",))
    deployment = await ops.promote(body["from"], request.match_info["stage"],
                                   author=author_of(request, body),
                                   message=text_param(request, "message", body))
    return await _deployment_answer(ops, deployment)


@routes.post("/v1/stages/{stage}/rollback", name="rollback")
async def rollback(request: web.Request) -> web.Response:
    ops = _ops(request)
    body = await read_json_object(request, {"to": int, "message": str, "author": str})
    to = require_int(str(body["to"]), "to") if body.get("to") is not None else None
    deployment = await ops.rollback(request.match_info["stage"], to_deployment=to,
                                    author=author_of(request, body),
                                    message=text_param(request, "message", body))
    return await _deployment_answer(ops, deployment)


@routes.get("/v1/stages/{stage}/history", name="history")
async def history(request: web.Request) -> web.Response:
    limit, before = _page(request)
    records = await _ops(request).store.history(request.match_info["stage"], limit=limit,
                                                before=before)
    next_before = records[-1].id if len(records) == limit and records[-1].id > 1 else None
    return json_response({"deployments": [d.as_dict() for d in records],
                          "next_before": next_before})

"""The OpenAPI 3.1 document of the admin API, served at ``/v1/openapi.json``.

A test checks that every route the application serves is documented here.
"""

from __future__ import annotations

from typing import Any

JSON = "application/json"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    text = {400: "invalid input (every problem listed)", 401: "missing or wrong admin token",
            404: "not found", 409: "conflict (a concurrent change won; retry)",
            413: "body too large", 415: "unsupported content type",
            503: "etcd unreachable"}
    return {str(s): _json(_ref("Error"), text[s]) for s in (*statuses, 401, 503)}


def _param(name: str, where: str, schema: dict[str, Any], description: str,
           required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": where, "required": required or where == "path",
            "description": description, "schema": schema}


_INT = {"type": "integer", "minimum": 1}
_STAGE = _param("stage", "path", {"type": "string", "pattern": "^[a-z][a-z0-9-]{0,31}$"},
                "stage name")
_PAGE = [_param("limit", "query", {**_INT, "maximum": 500, "default": 50}, "page size"),
         _param("before", "query", _INT, "only entries numbered below this (next page)")]


def _body(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    schema = {"type": "object", "additionalProperties": False, "properties": properties,
              "required": required}
    return {"required": bool(required), "content": {JSON: {"schema": schema}}}


_TEXT = {"type": "string", "maxLength": 2000}
_STAGE_CHANGE = {"200": _json({"type": "object", "properties": {
    "stage": _ref("Stage"), "deployment": _ref("Deployment")}}, "the stage after the change")}

_SCHEMAS: dict[str, Any] = {
    "Error": {"type": "object", "required": ["code", "message"], "properties": {
        "code": {"type": "string", "description": "stable machine-readable code"},
        "message": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object", "properties": {
            "path": {"type": "string"}, "message": {"type": "string"}}}}}},
    "VersionMeta": {"type": "object", "properties": {
        "number": {"type": "integer"}, "hash": {"type": "string"},
        "parent": {"type": ["integer", "null"]}, "author": {"type": "string"},
        "message": {"type": "string"}, "created_at": {"type": "string", "format": "date-time"},
        "size": {"type": "integer"}}},
    "Stage": {"type": "object", "properties": {
        "name": {"type": "string"}, "version": {"type": ["integer", "null"]},
        "hash": {"type": ["string", "null"]}, "deployment": {"type": ["integer", "null"]},
        "created_at": {"type": "string"}, "updated_at": {"type": "string"}}},
    "Deployment": {"type": "object", "properties": {
        "id": {"type": "integer"}, "stage": {"type": "string"},
        "action": {"enum": ["deploy", "promote", "rollback"]},
        "version": {"type": "integer"}, "previous_version": {"type": ["integer", "null"]},
        "author": {"type": "string"}, "message": {"type": "string"},
        "created_at": {"type": "string"}, "source_stage": {"type": ["string", "null"]},
        "rollback_to": {"type": ["integer", "null"]}}},
    "Node": {"type": "object", "properties": {
        "node_id": {"type": "string"}, "region": {"type": "string"},
        "stage": {"type": "string"}, "build": {"type": "string"},
        "version": {"type": ["integer", "null"]}, "hash": {"type": ["string", "null"]},
        "desired_version": {"type": ["integer", "null"]},
        "status": {"enum": ["in-sync", "pending", "nacked", "no-config"]},
        "nack": {"type": ["string", "null"]}, "replica": {"type": "string"},
        "last_ack": {"type": ["string", "null"]}, "last_seen": {"type": "string"}}},
    "ApplyResult": {"type": "object", "required": ["version", "created", "hash"], "properties": {
        "version": {"type": "integer"}, "created": {"type": "boolean"},
        "hash": {"type": "string"}, "parent": {"type": ["integer", "null"]},
        "message": {"type": "string"}, "info": _ref("VersionMeta")}},
}


def openapi_document() -> dict[str, Any]:
    """Build the document (once per application)."""
    paths: dict[str, Any] = {
        "/v1/versions": {
            "get": {"operationId": "list_versions", "summary": "List versions, newest first",
                    "parameters": _PAGE, "responses": {"200": _json({"type": "object",
                        "properties": {"versions": {"type": "array", "items": _ref("VersionMeta")},
                                       "next_before": {"type": ["integer", "null"]}}},
                        "a page of versions"), **_errors(400)}},
            "post": {"operationId": "apply", "summary": "Create a version from a config",
                     "description": "Send the config as YAML or JSON text (application/yaml, "
                     "query parameters message and author) or as application/json "
                     "{config, message, author}. An identical config creates no version.",
                     "parameters": [_param("message", "query", _TEXT, "why"),
                                    _param("author", "query", _TEXT, "who")],
                     "requestBody": {"required": True, "content": {
                         "application/yaml": {"schema": {"type": "string"}},
                         JSON: {"schema": {"type": "object", "required": ["config"],
                                           "properties": {"config": {"type": "object"},
                                                          "message": _TEXT, "author": _TEXT}}}}},
                     "responses": {"201": _json(_ref("ApplyResult"), "version created"),
                                   "200": _json(_ref("ApplyResult"), "no change"),
                                   **_errors(400, 413, 415)}}},
        "/v1/versions/{number}": {"get": {
            "operationId": "get_version", "summary": "A version with its config",
            "parameters": [_param("number", "path", _INT, "version number")],
            "responses": {"200": _json(_ref("VersionMeta"), "metadata and `config`"),
                          **_errors(400, 404)}}},
        "/v1/diff": {"get": {
            "operationId": "diff", "summary": "What changed between two versions",
            "parameters": [_param("from", "query", _INT, "old version", True),
                           _param("to", "query", _INT, "new version", True)],
            "responses": {"200": _json({"type": "object"}, "changes per collection"),
                          **_errors(400, 404)}}},
        "/v1/nodes": {"get": {
            "operationId": "list_nodes", "summary": "Connected edges (fleet registry)",
            "parameters": [_param("stage", "query", {"type": "string"}, "only this stage")],
            "responses": {"200": _json({"type": "object", "properties": {
                "nodes": {"type": "array", "items": _ref("Node")}}}, "edges"), **_errors()}}},
        "/v1/stages": {"get": {
            "operationId": "list_stages", "summary": "All stages",
            "responses": {"200": _json({"type": "object", "properties": {
                "stages": {"type": "array", "items": _ref("Stage")}}}, "stages"),
                **_errors()}}},
        "/v1/stages/{stage}": {
            "get": {"operationId": "get_stage", "summary": "One stage", "parameters": [_STAGE],
                    "responses": {"200": _json(_ref("Stage"), "the stage"), **_errors(404)}},
            "put": {"operationId": "create_stage", "summary": "Create an empty stage",
                    "parameters": [_STAGE],
                    "responses": {"201": _json(_ref("Stage"), "created"), **_errors(400, 409)}}},
        "/v1/stages/{stage}/deploy": {"post": {
            "operationId": "deploy", "summary": "Point a stage at a version",
            "parameters": [_STAGE],
            "requestBody": _body({"version": _INT, "message": _TEXT, "author": _TEXT},
                                 ["version"]),
            "responses": {**_STAGE_CHANGE, **_errors(400, 404, 409)}}},
        "/v1/stages/{stage}/promote": {"post": {
            "operationId": "promote", "summary": "Copy another stage's version to this stage",
            "parameters": [_STAGE],
            "requestBody": _body({"from": {"type": "string"}, "message": _TEXT,
                                  "author": _TEXT}, ["from"]),
            "responses": {**_STAGE_CHANGE, **_errors(400, 404, 409)}}},
        "/v1/stages/{stage}/rollback": {"post": {
            "operationId": "rollback",
            "summary": "Back to the previous deployment's version, or to deployment `to`",
            "parameters": [_STAGE],
            "requestBody": _body({"to": _INT, "message": _TEXT, "author": _TEXT}, []),
            "responses": {**_STAGE_CHANGE, **_errors(400, 404, 409)}}},
        "/v1/stages/{stage}/history": {"get": {
            "operationId": "history", "summary": "Deployments of a stage, newest first",
            "parameters": [_STAGE, *_PAGE],
            "responses": {"200": _json({"type": "object", "properties": {
                "deployments": {"type": "array", "items": _ref("Deployment")},
                "next_before": {"type": ["integer", "null"]}}}, "deployments"),
                **_errors(400, 404)}}},
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "Edgeway admin API", "version": "1",
                 "description": "Versions, stages and deployments of the Edgeway control "
                 "plane. Errors are JSON {code, message} with a stable code."},
        "components": {"schemas": _SCHEMAS, "securitySchemes": {
            "token": {"type": "http", "scheme": "bearer"}}},
        "security": [{"token": []}],
        "paths": paths,
    }

"""Admin token enforcement and the OpenAPI document."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from edgeway.controlplane.admin import build_admin_app
from edgeway.controlplane.admin.openapi import openapi_document
from edgeway.controlplane.etcd_server import EmbeddedEtcd
from edgeway.controlplane.operations import Operations
from edgeway.controlplane.store import EtcdStore
from tests.support.controlplane import ControlPlane, start_control_plane
from tests.support.http import call

TOKEN = "s3cret-admin-token"


@pytest.fixture(scope="module")
def guarded(etcd_server: EmbeddedEtcd,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    cp = start_control_plane(etcd_server, tmp_path_factory.mktemp("guarded"),
                             "--admin-token", TOKEN)
    yield cp
    cp.process.stop()


def test_without_the_token_the_api_answers_401_json(guarded: ControlPlane) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        answer = call("GET", f"{guarded.url}/v1/stages", headers=headers)
        assert answer.status == 401
        assert answer.body["code"] == "unauthorized"
        assert answer.headers["www-authenticate"].startswith("Bearer")


def test_with_the_token_the_api_answers(guarded: ControlPlane) -> None:
    answer = call("GET", f"{guarded.url}/v1/stages",
                  headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status == 200
    assert answer.body == {"stages": []}


def test_health_and_the_openapi_document_need_no_token(guarded: ControlPlane) -> None:
    assert call("GET", f"{guarded.url}/healthz").status == 200
    assert call("GET", f"{guarded.url}/readyz").body == {"status": "ready"}
    document = call("GET", f"{guarded.url}/v1/openapi.json").body
    assert document["openapi"].startswith("3.")


async def test_every_served_route_is_in_the_openapi_document(etcd_server: EmbeddedEtcd) -> None:
    store = EtcdStore([etcd_server.endpoint], prefix="/edgeway-test/openapi")
    try:
        app = build_admin_app(Operations(store))
        paths = openapi_document()["paths"]
        served = {(r.method.lower(), r.resource.canonical) for r in app.router.routes()
                  if r.resource is not None and r.resource.canonical.startswith("/v1/")
                  and r.method != "HEAD"}
        documented = {(m, p) for p, ops in paths.items() for m in ops}
        served.discard(("get", "/v1/openapi.json"))
        assert served == documented
        for ops in paths.values():
            for op in ops.values():
                assert op["operationId"]
                assert op["responses"]
    finally:
        await store.close()

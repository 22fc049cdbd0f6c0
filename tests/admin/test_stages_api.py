"""Stages, deployments, promote and rollback through the admin API (real process, real etcd)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests.admin.configs import MINIMAL, with_route
from tests.support.controlplane import ControlPlane
from tests.support.http import call


def new_version(cp: ControlPlane, tag: str) -> int:
    answer = call("POST", f"{cp.url}/v1/versions?message={tag}",
                  data=with_route(tag, f"/{tag}").encode(), content_type="application/yaml")
    assert answer.status == 201, answer.body
    return int(answer.body["version"])


def deploy(cp: ControlPlane, stage: str, version: int, message: str = "") -> tuple[int, Any]:
    answer = call("POST", f"{cp.url}/v1/stages/{stage}/deploy",
                  json_body={"version": version, "message": message})
    return answer.status, answer.body


def test_deploy_promote_and_rollback_keep_a_correct_history(control_plane: ControlPlane) -> None:
    cp = control_plane
    v1, v2 = new_version(cp, "hist-one"), new_version(cp, "hist-two")
    assert deploy(cp, "hist-dev", v1, "first")[0] == 200
    status, body = deploy(cp, "hist-dev", v2, "second")
    assert status == 200
    assert body["stage"]["version"] == v2
    assert body["deployment"]["previous_version"] == v1

    promoted = call("POST", f"{cp.url}/v1/stages/hist-prod/promote", json_body={"from": "hist-dev"})
    assert promoted.status == 200, promoted.body
    assert promoted.body["stage"] == {**promoted.body["stage"], "name": "hist-prod",
                                      "version": v2}
    assert promoted.body["deployment"]["source_stage"] == "hist-dev"

    rolled = call("POST", f"{cp.url}/v1/stages/hist-dev/rollback", json_body={"message": "oops"})
    assert rolled.status == 200, rolled.body
    assert rolled.body["stage"]["version"] == v1

    history = call("GET", f"{cp.url}/v1/stages/hist-dev/history").body["deployments"]
    assert [(d["action"], d["version"]) for d in history] == [
        ("rollback", v1), ("deploy", v2), ("deploy", v1)]
    assert [d["id"] for d in history] == [3, 2, 1]

    back_to = call("POST", f"{cp.url}/v1/stages/hist-dev/rollback", json_body={"to": 2})
    assert back_to.status == 200
    assert back_to.body["stage"]["version"] == v2
    assert back_to.body["deployment"]["rollback_to"] == 2


def test_history_and_stages_survive_a_control_plane_restart(control_plane: ControlPlane) -> None:
    cp = control_plane
    version = new_version(cp, "restart")
    deploy(cp, "restart-stage", version, "before restart")
    before_stage = call("GET", f"{cp.url}/v1/stages/restart-stage").body
    before = call("GET", f"{cp.url}/v1/stages/restart-stage/history").body
    cp.restart()
    assert call("GET", f"{cp.url}/v1/stages/restart-stage/history").body == before
    assert call("GET", f"{cp.url}/v1/stages/restart-stage").body == before_stage


def test_stage_shape_has_name_version_and_hash(control_plane: ControlPlane) -> None:
    version = new_version(control_plane, "shape")
    deploy(control_plane, "shape", version)
    stage = call("GET", f"{control_plane.url}/v1/stages/shape").body
    assert stage["name"] == "shape"
    assert stage["version"] == version
    assert stage["hash"].startswith("sha256:")
    listed = call("GET", f"{control_plane.url}/v1/stages").body["stages"]
    assert "shape" in [s["name"] for s in listed]


def test_bad_stage_requests_get_clear_errors_and_change_nothing(
        control_plane: ControlPlane) -> None:
    cp = control_plane
    version = new_version(cp, "bad-input")
    deploy(cp, "bad-input", version)
    keys = cp.keys()
    cases = [
        ("POST", "/v1/stages/bad-input/deploy", {"version": 99999}, 404, "not_found"),
        ("POST", "/v1/stages/bad-input/deploy", {"version": "one"}, 400, "invalid_request"),
        ("POST", "/v1/stages/bad-input/deploy", {"version": 0}, 400, "invalid_request"),
        ("POST", "/v1/stages/bad-input/deploy", {}, 400, "invalid_request"),
        ("POST", "/v1/stages/bad-input/deploy", {"version": 1, "colour": "red"}, 400,
         "invalid_request"),
        ("POST", "/v1/stages/Bad_Name/deploy", {"version": version}, 400, "invalid_name"),
        ("POST", "/v1/stages/bad-input/promote", {"from": "no-such-stage"}, 404, "not_found"),
        ("POST", "/v1/stages/bad-input/promote", {"from": "bad-input"}, 400, "invalid_name"),
        ("POST", "/v1/stages/never-deployed/rollback", {}, 404, "not_found"),
        ("POST", "/v1/stages/bad-input/rollback", {}, 404, "not_found"),
        ("POST", "/v1/stages/bad-input/rollback", {"to": 42}, 404, "not_found"),
        ("GET", "/v1/stages/no-such-stage", None, 404, "not_found"),
        ("GET", "/v1/stages/no-such-stage/history", None, 404, "not_found"),
    ]
    for method, path, body, status, code in cases:
        answer = call(method, cp.url + path, json_body=body)
        assert (answer.status, answer.body["code"]) == (status, code), (path, body, answer.body)
        assert answer.body["message"]
    assert cp.keys() == keys


def test_a_version_that_does_not_render_for_the_stage_is_not_deployed(
        control_plane: ControlPlane) -> None:
    cp = control_plane
    text = MINIMAL.replace('"127.0.0.1:8001"', '"${stage.users_target}"') + """\
stage_variables:
  vars-dev:
    values: {users_target: "127.0.0.1:8001"}
"""
    answer = call("POST", f"{cp.url}/v1/versions", data=text.encode(),
                  content_type="application/yaml")
    assert answer.status == 201, answer.body
    version = int(answer.body["version"])
    assert deploy(cp, "vars-dev", version)[0] == 200
    keys = cp.keys()
    status, body = deploy(cp, "vars-prod", version)
    assert status == 400
    assert body["errors"][0]["path"] == "upstreams[0].targets[0].address"
    assert "users_target" in body["errors"][0]["message"]
    assert cp.keys() == keys


def test_racing_deploys_never_lose_an_update(control_plane: ControlPlane) -> None:
    cp = control_plane
    versions = [new_version(cp, f"racer-{i}") for i in range(10)]
    with ThreadPoolExecutor(10) as pool:
        results = list(pool.map(lambda v: deploy(cp, "race", v), versions))
    statuses = [status for status, _ in results]
    assert set(statuses) <= {200, 409}, results
    conflicts = [body for status, body in results if status == 409]
    assert all(b["code"] == "conflict" and "retry" in b["message"] for b in conflicts)
    history = call("GET", f"{cp.url}/v1/stages/race/history").body["deployments"]
    assert len(history) == statuses.count(200)
    stage = call("GET", f"{cp.url}/v1/stages/race").body
    assert stage["version"] == history[0]["version"]


def test_an_explicitly_created_stage_has_no_version_until_deployed(
        control_plane: ControlPlane) -> None:
    created = call("PUT", f"{control_plane.url}/v1/stages/empty-stage")
    assert created.status == 201
    assert created.body["version"] is None
    again = call("PUT", f"{control_plane.url}/v1/stages/empty-stage")
    assert again.status == 409

"""A deploy and every edge's apply form one trace; a request's spans link edge to upstream."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from edgeway.controlplane.etcd_server import EmbeddedEtcd
from tests.e2e.conftest import config
from tests.support.controlplane import ControlPlane, start_control_plane
from tests.support.fleet import Edge, start_edge, start_upstream
from tests.support.http import call
from tests.support.otlp import OtlpReceiver
from tests.support.wait import wait_until

DEPLOY_TRACE = "5bf92f3577b34da6a3ce929d0e0e4736"
REQUEST_TRACE = "6cf92f3577b34da6a3ce929d0e0e4736"


def traceparent(trace_id: str) -> str:
    return f"00-{trace_id}-00f067aa0ba902b7-01"


@pytest.fixture(scope="module")
def traced(etcd_server: EmbeddedEtcd, receiver: OtlpReceiver,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ControlPlane, Edge]]:
    folder = tmp_path_factory.mktemp("traced-fleet")
    cp = start_control_plane(etcd_server, folder, env=receiver.env("edgeway-controlplane"))
    upstream, upstream_process = start_upstream("traced", folder)
    edge = start_edge([cp.grpc], "traced", folder, env=receiver.env("edgeway-edge"))
    applied = call("POST", f"{cp.url}/v1/versions", data=config(upstream).encode(),
                   content_type="application/yaml")
    version = int(applied.body["version"])
    deployed = call("POST", f"{cp.url}/v1/stages/traced/deploy", json_body={"version": version},
                    headers={"traceparent": traceparent(DEPLOY_TRACE)})
    assert deployed.status == 200, deployed.body
    edge.wait_version(version)
    yield cp, edge
    edge.stop()
    upstream_process.stop()
    cp.process.stop()


def test_deploy_push_and_edge_apply_are_one_trace(traced: tuple[ControlPlane, Edge],
                                                  receiver: OtlpReceiver) -> None:
    applies = [s for s in receiver.wait_for("edgeway.edge.apply")
               if s.trace_id == DEPLOY_TRACE]
    assert len(applies) == 1, [(s.name, s.trace_id) for s in receiver.spans()]
    pushes = wait_until(lambda: {s.span_id: s for s in receiver.spans()  # another process's
                                 if s.name == "edgeway.push" and s.trace_id == DEPLOY_TRACE},
                        timeout=10, what="the control plane's push span")  # fmt: skip
    assert applies[0].parent_span_id in pushes
    assert applies[0].service == "edgeway-edge"
    deploy = [s for s in receiver.spans()
              if s.name == "edgeway.admin deploy" and s.trace_id == DEPLOY_TRACE]
    assert len(deploy) == 1


def test_a_request_has_an_edge_span_with_an_upstream_child_and_propagates_the_trace(
        traced: tuple[ControlPlane, Edge], receiver: OtlpReceiver) -> None:
    _, edge = traced
    answer = edge.get("/users", headers={"traceparent": traceparent(REQUEST_TRACE)})
    assert answer.status == 200
    sent = answer.body["gateway_headers"]["traceparent"]
    assert sent.split("-")[1] == REQUEST_TRACE
    server = [s for s in receiver.wait_for("edgeway.edge.request")
              if s.trace_id == REQUEST_TRACE]
    assert len(server) == 1
    assert server[0].parent_span_id == "00f067aa0ba902b7"
    upstream = [s for s in receiver.wait_for("edgeway.upstream") if s.trace_id == REQUEST_TRACE]
    assert len(upstream) == 1
    assert upstream[0].parent_span_id == server[0].span_id
    assert sent.split("-")[2] == upstream[0].span_id


def test_without_a_traceparent_the_upstream_still_gets_one(
        traced: tuple[ControlPlane, Edge]) -> None:
    _, edge = traced
    sent = edge.get("/users").body["gateway_headers"]["traceparent"]
    version, trace_id, span_id, _flags = sent.split("-")
    assert version == "00"
    assert len(trace_id) == 32
    assert int(trace_id, 16) != 0
    assert len(span_id) == 16

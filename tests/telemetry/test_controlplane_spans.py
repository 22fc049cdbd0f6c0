"""Admin operations are traced: a real OTLP receiver gets the control plane's spans."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from edgeway.controlplane.etcd_server import EmbeddedEtcd
from tests.admin.configs import MINIMAL
from tests.support.controlplane import ControlPlane, start_control_plane
from tests.support.http import call
from tests.support.otlp import OtlpReceiver

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


@pytest.fixture(scope="module")
def traced_cp(etcd_server: EmbeddedEtcd, receiver: OtlpReceiver,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    cp = start_control_plane(etcd_server, tmp_path_factory.mktemp("traced"),
                             env=receiver.env("edgeway-controlplane"))
    yield cp
    cp.process.stop()


def test_an_apply_is_one_trace_from_the_admin_span_to_the_store(
        traced_cp: ControlPlane, receiver: OtlpReceiver, tmp_path: Path) -> None:
    answer = call("POST", f"{traced_cp.url}/v1/versions", data=MINIMAL.encode(),
                  content_type="application/yaml", headers={"traceparent": TRACEPARENT})
    assert answer.status in (200, 201)
    admin = [s for s in receiver.wait_for("edgeway.admin apply") if s.trace_id == TRACE_ID]
    assert len(admin) == 1
    assert admin[0].service == "edgeway-controlplane"
    assert admin[0].parent_span_id == "00f067aa0ba902b7"
    store_spans = [s for s in receiver.spans()
                   if s.trace_id == TRACE_ID and s.name.startswith("edgeway.store")]
    assert store_spans, [s.name for s in receiver.spans()]
    assert all(s.parent_span_id == admin[0].span_id for s in store_spans)

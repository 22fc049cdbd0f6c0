"""Trace continuity through a real edge: the plugin's span is a child of the edge's request
span, in the trace the client started (edge and plugin export to one OTLP receiver)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from edgeway.sdk.testing import PluginProcess
from tests.plugins.conftest import ECHO
from tests.policies.edge_helpers import call
from tests.support.edge_process import StandaloneEdge
from tests.support.otlp import OtlpReceiver
from tests.support.upstream import UpstreamProcess

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture(scope="module")
def edge(receiver: OtlpReceiver, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[StandaloneEdge]:  # fmt: skip
    upstream = UpstreamProcess()
    upstream.start()
    with PluginProcess(ECHO, env=receiver.env("echo-plugin")) as plugin:
        text = f"""\
upstreams:
  - name: echo
    targets: [{{address: "127.0.0.1:{upstream.port}"}}]
plugins:
  - {{name: echo, endpoints: ["127.0.0.1:{plugin.port}"]}}
routes:
  - {{id: traced, paths: ["/traced"], upstream: echo, policies: [{{name: echo}}]}}
"""
        running = StandaloneEdge(text, tmp_path_factory.mktemp("traced"),
                                 env=receiver.env("edge"))  # fmt: skip
        running.start()
        try:
            yield running
        finally:
            running.stop()
            upstream.stop()


async def test_the_plugin_span_is_a_child_of_the_edge_request_span(
    edge: StandaloneEdge, receiver: OtlpReceiver
) -> None:
    trace_id, client_span = secrets.token_hex(16), secrets.token_hex(8)
    response = await call(edge.port, "/traced",
                          headers=[("traceparent", f"00-{trace_id}-{client_span}-01")])
    assert response.status == 200
    for name in ("edgeway.plugin echo request", "edgeway.plugin echo response",
                 "edgeway.edge.request"):  # exported by two processes, each in its own time
        receiver.wait_for(name, timeout=10)
    spans = [s for s in receiver.spans() if s.trace_id == trace_id]
    (request,) = [s for s in spans if s.name == "edgeway.edge.request"]
    (plugin,) = [s for s in spans if s.name == "edgeway.plugin echo request"]
    assert request.service == "edge"
    assert request.parent_span_id == client_span
    assert plugin.service == "echo-plugin"
    assert plugin.parent_span_id == request.span_id
    (response_span,) = [s for s in spans if s.name == "edgeway.plugin echo response"]
    assert response_span.parent_span_id == request.span_id

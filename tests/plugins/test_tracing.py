"""Trace continuity: the plugin's span ``edgeway.plugin <name> <phase>`` is a child of the
caller's span, over the Exchange stream and over unary calls."""

from __future__ import annotations

import secrets

import pytest
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from edgeway.edge.plugins import PluginClients, PluginInstance
from edgeway.sdk.testing import PluginProcess, make_request
from tests.plugins.conftest import ECHO, endpoint
from tests.support.otlp import OtlpReceiver

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.mark.parametrize("exchange", [True, False])
async def test_the_plugin_span_is_a_child_of_the_callers_span(receiver: OtlpReceiver,
                                                              exchange: bool) -> None:
    caller = SpanContext(int(secrets.token_hex(16), 16), int(secrets.token_hex(8), 16),
                         is_remote=False, trace_flags=TraceFlags(TraceFlags.SAMPLED))
    with PluginProcess(ECHO, env=receiver.env("echo-plugin")) as process:
        async with PluginClients({"echo": endpoint(process.port)}, exchange=exchange) as clients:
            with trace.use_span(NonRecordingSpan(caller)):
                outcome = await clients.on_request(PluginInstance.build("echo", {}),
                                                   make_request())
            assert outcome.failure is None
    spans = [s for s in receiver.wait_for("edgeway.plugin echo request", timeout=10)
             if s.trace_id == f"{caller.trace_id:032x}"]
    assert len(spans) == 1
    assert spans[0].parent_span_id == f"{caller.span_id:016x}"
    assert spans[0].service == "echo-plugin"
    assert spans[0].attributes["edgeway.phase"] == "request"

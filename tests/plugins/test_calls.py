"""The edge's plugin client against a real plugin process: every phase, over the Exchange
stream and over unary calls, with the outcomes the proxy acts on."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from edgeway.edge.plugins import PluginClients, PluginInstance
from edgeway.sdk.testing import PluginProcess, make_request
from edgeway.v1 import plugin_pb2
from tests.plugins.conftest import endpoint

pytestmark = pytest.mark.asyncio(loop_scope="module")

INSTANCE = PluginInstance.build("echo", {"tag": "t1"}, "routes[0].policies[0]")


@pytest_asyncio.fixture(loop_scope="module", params=["exchange", "unary"])
async def clients(request: pytest.FixtureRequest,
                  echo: PluginProcess) -> AsyncIterator[PluginClients]:
    async with PluginClients({"echo": endpoint(echo.port)},
                             exchange=request.param == "exchange") as opened:
        yield opened


async def test_the_description_is_fetched_at_start_and_kept(clients: PluginClients) -> None:
    description = clients.description("echo")
    assert description is not None
    assert (description.name, description.version) == ("echo", "0.1.0")
    assert set(description.phases) == {plugin_pb2.PHASE_REQUEST, plugin_pb2.PHASE_RESPONSE,
                                       plugin_pb2.PHASE_LOG}
    assert description.request_body.max_bytes == 64
    assert json.loads(description.config_schema)["properties"]["tag"]["default"] == "echo"


async def test_on_request_proceeds_with_the_plugins_mutations(clients: PluginClients) -> None:
    request = make_request(method="POST", path="/rewrite/me", consumer="acme",
                           headers={"x-id": "7", "x-remove-me": "1", "x-new-body": "1"},
                           query=[("drop", "x")], body=b"hello")
    outcome = await clients.on_request(INSTANCE, request)
    assert outcome.response is None
    assert outcome.failure is None
    m = outcome.mutations
    assert m is not None
    assert {h.name: h.value for h in m.set_headers} == {
        "x-echo-id": "7", "x-seen-method": "POST", "x-body-length": "5",
        "x-body-truncated": "false", "x-tag": "t1", "x-seen-stage": "test",
        "x-seen-variables": "{}", "x-seen-route": "test-route {}"}
    assert list(m.remove_headers) == ["x-remove-me"]
    assert [(q.name, q.value) for q in m.set_query] == [("echoed", "1")]
    assert list(m.remove_query) == ["drop"]
    assert (m.path, m.body) == ("/rewritten", b"new body")
    assert dict(m.context) == {"echo.consumer": "acme"}


async def test_a_direct_answer_short_circuits_the_request(clients: PluginClients) -> None:
    outcome = await clients.on_request(INSTANCE, make_request(headers={"x-answer": "418"}))
    assert outcome.mutations is None
    answer = outcome.response
    assert answer is not None
    assert answer.status == 418
    assert json.loads(answer.body) == {"answered": "t1"}
    assert {h.name: h.value for h in answer.headers}["x-answered-by"] == "echo"


async def test_a_body_longer_than_declared_is_cut_and_marked(clients: PluginClients) -> None:
    outcome = await clients.on_request(INSTANCE, make_request(body=b"x" * 100))
    assert outcome.mutations is not None
    seen = {h.name: h.value for h in outcome.mutations.set_headers}
    assert (seen["x-body-length"], seen["x-body-truncated"]) == ("64", "true")


async def test_on_response_changes_status_headers_and_body(clients: PluginClients) -> None:
    outcome = await clients.on_response(
        INSTANCE, make_request(), 500,
        [plugin_pb2.HeaderEntry(name="content-type", value="text/plain")], b"the secret")
    verdict = outcome.verdict
    assert verdict is not None
    assert (verdict.status, verdict.body) == (502, b"the ******")
    assert [(h.name, h.value) for h in verdict.set_headers] == [("x-upstream-status", "500")]


async def test_concurrent_calls_get_their_own_verdicts(clients: PluginClients) -> None:
    async def one(index: int) -> str:
        headers = {"x-id": str(index), "x-sleep-ms": str((index * 7) % 20)}
        outcome = await clients.on_request(INSTANCE, make_request(headers=headers))
        assert outcome.mutations is not None, outcome.failure
        return {h.name: h.value for h in outcome.mutations.set_headers}["x-echo-id"]

    answers = await asyncio.gather(*(one(index) for index in range(60)))
    assert answers == [str(index) for index in range(60)]


async def test_a_new_config_keeps_unchanged_endpoints(clients: PluginClients,
                                                      echo: PluginProcess) -> None:
    kept = clients.endpoints["echo"]
    await clients.update({"echo": endpoint(echo.port)})
    assert clients.endpoints["echo"] is kept
    await clients.update({"echo": endpoint(echo.port, timeout_ms=300)})
    assert clients.endpoints["echo"] is not kept
    assert clients.endpoints["echo"].timeout == 0.3
    assert (await clients.on_request(INSTANCE, make_request())).failure is None

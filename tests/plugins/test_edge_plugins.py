"""Plugins on the request path of a real edge process: each phase, answers, mutations, bodies,
context values, timeouts in both failure modes, a plugin that is down, its circuit breaker,
verdict-cache hits, concurrent calls, ``OnLog`` entries, and the access log.

One edge (``edgeway edge --config``) proxies to a real echo upstream and calls the SDK test
plugin ``echo_plugin.py`` (a real process, under several endpoint names with different
settings)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edgeway.sdk.testing import PluginProcess
from tests.edge.client import Client, Response
from tests.plugins.conftest import plugin_calls
from tests.policies.edge_helpers import call, echoed, error_code, sent_header
from tests.support.edge_process import StandaloneEdge
from tests.support.processes import free_port
from tests.support.upstream import UpstreamProcess
from tests.support.wait import wait_until

pytestmark = pytest.mark.asyncio(loop_scope="module")


def config(upstream: int, plugin: int, dead: int, log_file: Path) -> str:
    at = f'endpoints: ["127.0.0.1:{plugin}"]'
    down = f'endpoints: ["127.0.0.1:{dead}"]'
    return f"""\
variables: {{tier: gold, zone: a}}
stage_variables: {{s: {{values: {{tier: platinum}}}}}}
consumers:
  - name: acme
    credentials: [{{type: key-auth, key: "acme-key"}}]
upstreams:
  - name: echo
    targets: [{{address: "127.0.0.1:{upstream}"}}]
plugins:
  - {{name: echo, {at}, timeout_ms: 300}}
  - {{name: echo-open, {at}, timeout_ms: 200, failure_mode: open}}
  - {{name: cached, {at}, cache_ttl_ms: 60000}}
  - {{name: cached-briefly, {at}, cache_ttl_ms: 400}}
  - {{name: down-closed, {down}, circuit_breaker: {{failure_threshold: 2, open_ms: 60000}}}}
  - {{name: down-open, {down}, failure_mode: open}}
  - {{name: echo-a, {at}, timeout_ms: 1000, concurrent: true}}
  - {{name: echo-b, {at}, timeout_ms: 1000, concurrent: true}}
  - {{name: seq-a, {at}, timeout_ms: 1000}}
  - {{name: seq-b, {at}, timeout_ms: 1000}}
routes:
  - {{id: plugged, paths: ["/plugged"], upstream: echo,
     policies: [{{name: echo, config: {{tag: t1, log_file: "{log_file}"}}}}]}}
  - {{id: rewrite, paths: ["/rewrite"], upstream: echo, policies: [{{name: echo}}]}}
  - {{id: item, paths: ["/items/{{id:int}}"], upstream: echo,
     policies: [{{name: echo, config: {{tag: "${{stage.zone}}"}}}}]}}
  - {{id: status, paths: ["/__status"], upstream: echo, policies: [{{name: echo}}]}}
  - {{id: authed, paths: ["/authed"], upstream: echo,
     policies: [{{name: echo}}, {{name: key-auth}}]}}
  - {{id: open, paths: ["/open"], upstream: echo, policies: [{{name: echo-open}}]}}
  - {{id: cached, paths: ["/cached"], upstream: echo, policies: [{{name: cached}}]}}
  - {{id: briefly, paths: ["/briefly"], upstream: echo, policies: [{{name: cached-briefly}}]}}
  - {{id: down-closed, paths: ["/down-closed"], upstream: echo,
     policies: [{{name: down-closed}}]}}
  - {{id: down-open, paths: ["/down-open"], upstream: echo, policies: [{{name: down-open}}]}}
  - {{id: together, paths: ["/together"], upstream: echo,
     policies: [{{name: echo-a}}, {{name: echo-b}}]}}
  - {{id: apart, paths: ["/apart"], upstream: echo,
     policies: [{{name: seq-a}}, {{name: seq-b}}]}}
"""


@pytest.fixture(scope="module")
def upstream() -> Iterator[UpstreamProcess]:
    process = UpstreamProcess()
    process.start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
def log_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("plugin-log") / "on_log.jsonl"


@pytest.fixture(scope="module")
def edge(upstream: UpstreamProcess, echo: PluginProcess, log_file: Path,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[StandaloneEdge]:  # fmt: skip
    text = config(upstream.port, echo.port, free_port(), log_file)
    running = StandaloneEdge(text, tmp_path_factory.mktemp("plugged"))
    running.start()
    yield running
    running.stop()


async def served(upstream: UpstreamProcess) -> int:
    """Requests the upstream has served."""
    requests: int = (await call(upstream.port, "/__stats")).json()["requests"]
    return requests


def access_line(edge: StandaloneEdge, request_id: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = []

    def logged() -> bool:
        found[:] = [line for line in edge.access_lines() if line["request_id"] == request_id]
        return bool(found)

    wait_until(logged, timeout=5, what=f"the access-log line of {request_id}")
    return found[0]


# -- the request phase ------------------------------------------------------------------------


async def test_a_plugin_changes_headers_and_query_before_the_upstream_sees_them(
    edge: StandaloneEdge,
) -> None:
    response = await call(edge.port, "/plugged?drop=1&keep=2",
                          headers=[("x-id", "abc"), ("x-remove-me", "y")])  # fmt: skip
    received = echoed(response)
    assert sent_header(response, "x-echo-id") == "abc"
    assert sent_header(response, "x-seen-method") == "GET"
    assert sent_header(response, "x-tag") == "t1"
    assert sent_header(response, "x-remove-me") is None
    assert received["query"] == "keep=2&echoed=1"
    assert response.header("x-upstream-status") == "200"  # the response phase ran too


async def test_a_plugin_answer_is_sent_without_calling_the_upstream(
    edge: StandaloneEdge, upstream: UpstreamProcess
) -> None:
    before = await served(upstream)
    response = await call(edge.port, "/plugged", headers=[("x-answer", "418")])
    assert response.status == 418
    assert response.json() == {"answered": "t1"}
    assert response.header("x-answered-by") == "echo"
    assert response.header("x-request-id")
    assert await served(upstream) == before


async def test_a_plugin_sends_the_request_to_another_upstream_path(edge: StandaloneEdge) -> None:
    response = await call(edge.port, "/rewrite/deep?q=1")
    received = echoed(response)
    assert received["path"] == "/rewritten"
    assert received["query"] == "q=1&echoed=1"


async def test_a_plugin_reads_the_body_up_to_its_declared_size_and_the_upstream_gets_it_all(
    edge: StandaloneEdge,
) -> None:
    body = bytes(range(100))
    response = await call(edge.port, "/plugged", method="POST", body=body)
    received = echoed(response)
    assert sent_header(response, "x-body-length") == "64"
    assert sent_header(response, "x-body-truncated") == "true"
    assert received["body_size"] == 100


async def test_a_plugin_replaces_the_body_the_upstream_gets(edge: StandaloneEdge) -> None:
    response = await call(edge.port, "/plugged", method="POST", body=b"original",
                          headers=[("x-new-body", "1")])  # fmt: skip
    received = echoed(response)
    assert received["body"] == "new body"
    assert received["body_size"] == 8


async def test_context_values_reach_the_upstream_and_client_sent_ones_are_dropped(
    edge: StandaloneEdge,
) -> None:
    forged = [("x-edgeway-context-echo-consumer", "mallory"),
              ("x-edgeway-context-role", "admin"), ("apikey", "acme-key")]  # fmt: skip
    response = await call(edge.port, "/authed", headers=forged)
    assert sent_header(response, "x-edgeway-context-echo-consumer") == "acme"
    assert sent_header(response, "x-edgeway-context-role") is None
    line = access_line(edge, response.header("x-request-id") or "")
    assert line["context"] == {"echo.consumer": "acme"}
    assert line["consumer"] == "acme"


async def test_a_plugin_sees_the_route_its_parameters_the_stage_and_its_variables(
    edge: StandaloneEdge,
) -> None:
    response = await call(edge.port, "/items/42")
    assert sent_header(response, "x-seen-route") == "item {'id': '42'}"
    assert sent_header(response, "x-seen-stage") == "s"
    assert json.loads(sent_header(response, "x-seen-variables") or "") == {
        "tier": "platinum", "zone": "a"}
    assert sent_header(response, "x-tag") == "a"  # ${stage.zone} in the instance config


# -- the response phase -----------------------------------------------------------------------


async def test_a_plugin_changes_the_status_and_the_body_of_the_response(
    edge: StandaloneEdge,
) -> None:
    response = await call(edge.port, "/__status/500?secret=1")
    assert response.status == 502
    assert b"secret" not in response.body
    assert json.loads(response.body)["query"].startswith("******=1")
    assert response.header("x-upstream-status") == "500"
    assert response.header("content-length") == str(len(response.body))


# -- failures ---------------------------------------------------------------------------------


async def test_a_response_hook_that_fails_closed_replaces_the_upstream_answer_with_a_503(
    edge: StandaloneEdge,
) -> None:
    response = await call(edge.port, "/plugged", headers=[("x-raise-response", "1")])
    assert response.status == 503
    assert error_code(response) == "plugin_unavailable"
    assert "asked to fail the response" in response.json()["message"]
    line = access_line(edge, response.header("x-request-id") or "")
    assert line["status"] == 503
    assert "'echo' failed" in line["error"]


async def test_a_plugin_that_times_out_fails_closed_with_a_503(edge: StandaloneEdge) -> None:
    response = await call(edge.port, "/plugged", headers=[("x-sleep-ms", "800")])
    assert response.status == 503
    assert error_code(response) == "plugin_unavailable"
    assert "'echo'" in response.json()["message"]


async def test_a_plugin_that_times_out_fails_open_and_the_access_log_says_so(
    edge: StandaloneEdge,
) -> None:
    response = await call(edge.port, "/open", headers=[("x-sleep-ms", "800")])
    assert response.status == 200
    assert sent_header(response, "x-tag") is None  # the plugin's changes were not applied
    line = access_line(edge, response.header("x-request-id") or "")
    assert len(line["plugin_failures"]) == 1
    assert line["plugin_failures"][0].startswith("echo-open: ")


async def test_a_plugin_that_is_down_is_skipped_when_it_fails_open(edge: StandaloneEdge) -> None:
    response = await call(edge.port, "/down-open")
    assert response.status == 200
    line = access_line(edge, response.header("x-request-id") or "")
    assert line["plugin_failures"][0].startswith("down-open: ")


async def test_a_plugin_that_is_down_answers_503_then_its_breaker_opens(
    edge: StandaloneEdge,
) -> None:
    messages = []
    for _ in range(3):
        response = await call(edge.port, "/down-closed")
        assert response.status == 503
        assert error_code(response) == "plugin_unavailable"
        messages.append(response.json()["message"])
    assert not any("circuit breaker" in message for message in messages[:2])
    assert "circuit breaker open" in messages[2]


# -- caching and concurrency ------------------------------------------------------------------


async def test_verdicts_are_cached_by_the_key_the_plugin_declared(
    edge: StandaloneEdge, echo: PluginProcess
) -> None:
    before = await plugin_calls(echo)
    for token in ("token-1", "token-1", "token-1", "token-2"):
        response = await call(edge.port, "/cached", headers=[("authorization", token)])
        assert sent_header(response, "x-tag") == "echo"  # cached mutations still apply
    assert await plugin_calls(echo) - before == 2


async def test_a_keep_alive_connection_reuses_its_last_verdict_only_for_the_same_value(
    edge: StandaloneEdge, echo: PluginProcess
) -> None:
    """The connection's last verdict serves the same token again (allow and deny alike); any
    other value goes through the cache, and the remembered verdict lasts no longer than the
    cache would keep it."""
    client = await Client.open(edge.port)
    try:
        async def send(path: str, token: str, *extra: tuple[str, str]) -> Response:
            return await client.request("GET", path, headers=[("authorization", token), *extra])

        before = await plugin_calls(echo)
        for token in ("keep-1", "keep-1", "keep-10", "keep-1", "keep-1", "keep-1x"):
            response = await send("/cached", token)
            assert response.status == 200
            assert sent_header(response, "x-tag") == "echo"
        assert await plugin_calls(echo) - before == 3  # keep-1, keep-10, keep-1x
        for _ in range(2):  # not ASCII: never remembered, compared with the last one safely
            assert (await send("/cached", "keep-1\xe9")).status == 200
        assert await plugin_calls(echo) - before == 4
        for _ in range(3):
            denied = await send("/cached", "keep-deny", ("x-answer", "401"))
            assert denied.status == 401
        assert await plugin_calls(echo) - before == 5
        await send("/briefly", "brief-1")
        await send("/briefly", "brief-1")
        assert await plugin_calls(echo) - before == 6
        await asyncio.sleep(0.5)  # past the TTL: called again, not served from the connection
        assert (await send("/briefly", "brief-1")).status == 200
        assert await plugin_calls(echo) - before == 7
    finally:
        client.writer.close()


async def test_concurrent_plugins_are_called_at_the_same_time(edge: StandaloneEdge) -> None:
    together = await call(edge.port, "/together", headers=[("x-barrier", "1")])
    assert together.status == 200
    apart = await call(edge.port, "/apart", headers=[("x-barrier", "1")])
    assert apart.status == 409  # the first plugin was called alone and said so
    assert apart.json() == {"error": "called alone"}


# -- the log phase ----------------------------------------------------------------------------


async def test_finished_exchanges_are_delivered_to_on_log(edge: StandaloneEdge,
                                                          log_file: Path) -> None:
    ids = []
    for _ in range(3):
        response = await call(edge.port, "/plugged")
        ids.append(response.header("x-request-id"))

    def delivered() -> bool:
        if not log_file.exists():
            return False
        entries = [json.loads(line) for line in log_file.read_text().splitlines()]
        seen = {entry["id"]: entry for entry in entries}
        return all(i in seen and seen[i]["status"] == 200 for i in ids)

    wait_until(delivered, timeout=10, what="OnLog entries")

"""The verdict cache: allow and deny verdicts are reused for requests with the same declared
key parts and plugin config, until their TTL; failures are never cached."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from types import SimpleNamespace

import pytest
import pytest_asyncio
from aiohttp import web

from edgeway.edge.plugins import PluginClients, PluginInstance
from edgeway.edge.plugins.guards import KeyBuilder
from edgeway.sdk.testing import PluginProcess, make_request
from edgeway.v1 import plugin_pb2
from tests.plugins.conftest import CONTRIB, ECHO, endpoint, plugin_calls

pytestmark = pytest.mark.asyncio(loop_scope="module")


def bearer(token: str, **headers: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}", **headers}


async def test_allow_and_deny_verdicts_are_cached_per_key_and_config() -> None:
    with PluginProcess(ECHO) as process:
        plugin = endpoint(process.port, cache_ttl_ms=60_000)
        one, two = PluginInstance.build("echo", {"tag": "a"}), PluginInstance.build("echo", {})
        async with PluginClients({"echo": plugin}) as clients:
            allow = make_request(headers=bearer("a"))
            deny = make_request(headers=bearer("b", **{"x-answer": "401"}))
            first = await clients.on_request(one, allow)
            for _ in range(5):
                again = await clients.on_request(one, allow)
                assert again.cached
                assert again.mutations == first.mutations
                denied = await clients.on_request(one, deny)
                assert denied.response is not None
                assert denied.response.status == 401
            assert not (await clients.on_request(two, allow)).cached  # another config
            assert not (await clients.on_request(one, make_request(headers=bearer("c")))).cached
            assert await plugin_calls(process) == 4
            assert clients.endpoints["echo"].stats.cache_hits == 9


async def test_verdicts_expire_and_failures_are_not_cached() -> None:
    with PluginProcess(ECHO) as process:
        plugin = endpoint(process.port, cache_ttl_ms=150, failure_mode="open")
        instance = PluginInstance.build("echo", {})
        async with PluginClients({"echo": plugin}) as clients:
            request = make_request(headers=bearer("a"))
            await clients.on_request(instance, request)
            assert (await clients.on_request(instance, request)).cached
            await asyncio.sleep(0.2)
            assert not (await clients.on_request(instance, request)).cached
            failing = make_request(headers=bearer("z", **{"x-raise": "1"}))
            for _ in range(2):
                outcome = await clients.on_request(instance, failing)
                assert (outcome.failure is not None, outcome.cached) == (True, False)
            assert await plugin_calls(process) == 4


async def test_without_a_ttl_nothing_is_cached(echo: PluginProcess) -> None:
    async with PluginClients({"echo": endpoint(echo.port)}) as clients:
        instance = PluginInstance.build("echo", {})
        before = await plugin_calls(echo)
        for _ in range(3):
            assert not (await clients.on_request(instance, make_request(headers=bearer("a")))
                        ).cached
        assert await plugin_calls(echo) == before + 3


@pytest_asyncio.fixture(loop_scope="module")
async def introspection() -> AsyncIterator[tuple[str, list[str]]]:
    seen: list[str] = []

    async def introspect(request: web.Request) -> web.Response:
        token = str((await request.post()).get("token", ""))
        seen.append(token)
        return web.json_response({"active": token == "good", "sub": "alice"})

    app = web.Application()
    app.router.add_post("/introspect", introspect)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/introspect", seen
    finally:
        await runner.cleanup()


async def test_the_authorizer_is_asked_once_per_token_and_ttl(
        introspection: tuple[str, list[str]]) -> None:
    url, seen = introspection
    with PluginProcess(CONTRIB / "authorizer" / "authorizer.py") as process:
        plugin = endpoint(process.port, name="authorizer", cache_ttl_ms=60_000, timeout_ms=2000)
        instance = PluginInstance.build("authorizer", {"introspection_url": url})
        async with PluginClients({"authorizer": plugin}) as clients:
            for _ in range(10):
                good = await clients.on_request(instance, make_request(headers=bearer("good")))
                bad = await clients.on_request(instance, make_request(headers=bearer("bad")))
                assert good.mutations is not None
                assert {h.name: h.value for h in good.mutations.set_headers} == {
                    "x-principal": "alice"}
                assert bad.response is not None
                assert bad.response.status == 401
    assert sorted(seen) == ["bad", "good"]


async def test_a_key_made_from_the_edge_request_parts_equals_the_key_of_its_message() -> None:
    spec = plugin_pb2.CacheKeySpec(headers=["Authorization", "x-tenant", "x-none"],
                                   query=["page", "sort"], consumer=True, route=True,
                                   client_address=True)  # fmt: skip
    keys = KeyBuilder(spec)
    message = make_request(headers={"authorization": "t1", "x-tenant": "a"},
                           query=[("page", "2"), ("sort", "x"), ("sort", "y"), ("other", "1")],
                           consumer="acme", route_id="r", client_address="10.0.0.1")
    parts = keys.of_parts(b"instance", {"authorization": "t1", "x-tenant": "a", "x": "y"}.get,
                          lambda: {"page": ("2",), "sort": ("x", "y"), "other": ("1",)},
                          "acme", "r", "10.0.0.1")  # fmt: skip
    assert parts == keys(b"instance", message)
    other = keys.of_parts(b"instance", {"authorization": "t2", "x-tenant": "a"}.get,
                          lambda: {"page": ("2",), "sort": ("x", "y")}, "acme", "r", "10.0.0.1")
    assert other != parts


@pytest.mark.parametrize("names", [["Authorization"], ["authorization", "X-Tenant", "x-none"]])
async def test_a_key_of_headers_only_is_the_key_of_its_parts(names: list[str]) -> None:
    keys = KeyBuilder(plugin_pb2.CacheKeySpec(headers=names))
    assert keys.plain
    header = {"authorization": "t1", "x-tenant": "a"}.get
    request = SimpleNamespace(header=header)
    assert keys.of_headers(b"i", request) == keys.of_parts(b"i", header, dict, "c", "r", "ip")
    assert keys.of_headers(b"i", request) != keys.of_headers(b"j", request)
    assert not KeyBuilder(plugin_pb2.CacheKeySpec(headers=names, route=True)).plain

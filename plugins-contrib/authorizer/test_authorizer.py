"""authorizer: tokens checked against a real introspection server on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from authorizer import INACTIVE_TOKEN, MISSING_SCOPE, Authorizer

from edgeway.sdk.testing import PluginProcess, connect, harness

TOKENS = {
    "good": {"active": True, "sub": "alice", "scope": "read write", "tenant": "acme",
             "plan": "gold"},
    "narrow": {"active": True, "sub": "bob", "scope": "read"},
    "revoked": {"active": False},
}


@pytest.fixture
async def introspection() -> AsyncIterator[tuple[str, list[str]]]:
    seen: list[str] = []

    async def introspect(request: web.Request) -> web.Response:
        form = await request.post()
        token = str(form.get("token", ""))
        seen.append(token)
        if token == "broken":
            return web.Response(status=500)
        return web.json_response(TOKENS.get(token, {"active": False}))

    app = web.Application()
    app.router.add_post("/introspect", introspect)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/introspect", seen
    finally:
        await runner.cleanup()


def config(url: str, **extra: object) -> dict[str, object]:
    return {"introspection_url": url, "claim_headers": {"tenant": "x-tenant"},
            "context_claims": ["plan"], **extra}


async def test_an_active_token_passes_principal_and_claims(
        introspection: tuple[str, list[str]]) -> None:
    url, seen = introspection
    async with harness(Authorizer(), config=config(url)) as plugin:
        result = await plugin.request(headers={"authorization": "Bearer good"})
    assert result.proceeded
    assert result.set_headers == {"x-principal": "alice", "x-tenant": "acme"}
    assert result.context == {"principal": "alice", "claim.plan": "gold"}
    assert seen == ["good"]


async def test_missing_inactive_and_narrow_tokens_are_denied(
        introspection: tuple[str, list[str]]) -> None:
    url, _ = introspection
    async with harness(Authorizer(), config=config(url, required_scopes=["write"])) as plugin:
        assert (await plugin.request()).status == 401
        revoked = await plugin.request(headers={"authorization": "Bearer revoked"})
        assert (revoked.status, revoked.json()["message"]) == (401, INACTIVE_TOKEN)
        narrow = await plugin.request(headers={"authorization": "Bearer narrow"})
        assert (narrow.status, narrow.json()["message"]) == (403, MISSING_SCOPE)


async def test_a_failing_introspection_is_a_plugin_failure_not_a_deny(
        introspection: tuple[str, list[str]]) -> None:
    url, _ = introspection
    async with harness(Authorizer(), config=config(url)) as plugin:
        with pytest.raises(Exception, match="introspection answered 500"):
            await plugin.request(headers={"authorization": "Bearer broken"})


async def test_config_errors_name_their_fields() -> None:
    errors = await harness(Authorizer()).validate(
        {"introspection_url": "ftp://x", "claim_headers": {"tenant": "bad header"}})
    assert {path for path, _ in errors} == {"introspection_url", "claim_headers"}
    assert (await harness(Authorizer()).describe()).cache_key.headers == ["authorization"]


async def test_the_service_runs_as_a_process(introspection: tuple[str, list[str]]) -> None:
    url, seen = introspection
    with PluginProcess(Path(__file__).with_name("authorizer.py")) as process:
        async with connect(process.address, config=config(url)) as remote:
            result = await remote.request(headers={"authorization": "Bearer good"})
            assert result.set_headers["x-principal"] == "alice"
    assert seen == ["good"]
    assert process.returncode == 0

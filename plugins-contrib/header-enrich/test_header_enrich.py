"""header-enrich: headers and context values looked up by consumer."""

from __future__ import annotations

from pathlib import Path

from header_enrich import HeaderEnrich

from edgeway.sdk import Consumer
from edgeway.sdk.testing import PluginProcess, connect, harness

CONFIG = {
    "table": {"acme": {"headers": {"X-Tenant": "acme"}, "context": {"plan": "gold"}}},
    "default": {"headers": {"x-tenant": "public"}},
    "from_tags": {"region": "x-region"},
}


async def test_a_known_consumer_gets_its_headers_context_and_tags() -> None:
    consumer = Consumer("acme", frozenset(), {"region": "eu"})
    result = await harness(HeaderEnrich(), config=CONFIG).request(consumer=consumer)
    assert result.set_headers == {"x-tenant": "acme", "x-region": "eu"}
    assert result.context == {"plan": "gold"}


async def test_other_consumers_get_the_default_and_anonymous_ones_are_configurable() -> None:
    plugin = harness(HeaderEnrich(), config=CONFIG)
    assert (await plugin.request(consumer="zed")).set_headers == {"x-tenant": "public"}
    assert (await plugin.request()).set_headers == {}
    rejected = await plugin.request(config={**CONFIG, "anonymous": "reject"})
    assert rejected.status == 401


async def test_config_errors_name_their_fields() -> None:
    errors = await harness(HeaderEnrich()).validate(
        {"table": {"acme": {"headers": {"bad name": "x"}}}, "anonymous": "maybe"})
    assert {path for path, _ in errors} == {"table.acme.headers", "anonymous"}


async def test_the_service_runs_as_a_process() -> None:
    with PluginProcess(Path(__file__).with_name("header_enrich.py")) as process:
        async with connect(process.address, config=CONFIG) as remote:
            assert (await remote.describe()).cache_key.consumer
            assert (await remote.request(consumer="acme")).context == {"plan": "gold"}
    assert process.returncode == 0

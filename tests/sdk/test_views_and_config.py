"""The SDK's request/response views, direct responses, declarations and typed configs."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence

import pytest
from pydantic import BaseModel, ConfigDict, Field

from edgeway.sdk import (
    CacheKey,
    ConfigRejected,
    Consumer,
    LogEntry,
    Plugin,
    Request,
    Response,
    ResponseView,
)
from edgeway.sdk.testing import harness, make_request
from edgeway.v1 import plugin_pb2


def test_request_reads_are_case_insensitive_and_reflect_mutations() -> None:
    request = Request(make_request(headers=[("X-A", "1"), ("x-a", "2"), ("B", "b")],
                                   query=[("q", "1"), ("q", "2")], consumer="acme",
                                   context={"earlier": "yes"}))
    assert (request.header("x-a"), request.header_values("X-A")) == ("1", ["1", "2"])
    assert request.headers == {"x-a": "1, 2", "b": "b"}
    assert request.consumer == Consumer("acme", frozenset(), {})
    request.set_header("X-A", "3")
    request.remove_header("b")
    request.set_query("q", "9")
    request.set_context("mine", "1")
    assert (request.header("x-a"), request.header("b")) == ("3", None)
    assert request.query_param("q") == "9"
    assert request.context == {"earlier": "yes", "mine": "1"}
    assert Request(make_request()).consumer is None


def test_header_injection_and_bad_paths_are_refused() -> None:
    request = Request(make_request())
    with pytest.raises(ValueError, match="CR, LF and NUL"):
        request.set_header("x-a", "1\r\nx-evil: 1")
    with pytest.raises(ValueError, match="invalid header name"):
        request.set_header("bad name", "1")
    with pytest.raises(ValueError, match="invalid path"):
        request.set_path("no-slash")
    with pytest.raises(ValueError, match="between 200 and 599"):
        Response(99)


def test_direct_responses_render_json_text_and_bytes() -> None:
    assert Response(403, json={"a": 1}).body == b'{"a":1}'
    assert Response(403, json=None).headers == {"content-type": "application/json"}
    text = Response(200, text="hé", headers={"X-Y": "z"})
    assert (text.body, text.headers["x-y"]) == ("hé".encode(), "z")
    assert Response(204).body == b""
    with pytest.raises(ValueError, match="at most one"):
        Response(200, text="a", body=b"b")


class Limit(BaseModel):
    max: int = Field(gt=0)


class Limits(BaseModel):
    model_config = ConfigDict(extra="forbid")
    limits: list[Limit] = Field(default_factory=list)


class Everything(Plugin[Limits]):
    name = "everything"
    version = "2.0.0"
    request_body = 10
    response_body = 20
    cache_key = CacheKey(headers=["Authorization"], consumer=True)

    def __init__(self) -> None:
        self.logged: list[int] = []

    async def on_request(self, request: Request, config: Limits) -> Response | None:
        return Response(200, json={"limits": [limit.max for limit in config.limits]})

    async def on_response(self, response: ResponseView, config: Limits) -> None:
        response.set_status(201)
        response.remove_header("server")

    async def on_log(self, entries: Sequence[LogEntry], config: Limits) -> None:
        self.logged.extend(entry.status for entry in entries)


async def test_describe_derives_phases_body_access_cache_key_and_schema() -> None:
    description = await harness(Everything()).describe()
    assert list(description.phases) == [plugin_pb2.PHASE_REQUEST, plugin_pb2.PHASE_RESPONSE,
                                        plugin_pb2.PHASE_LOG]
    assert (description.request_body.max_bytes, description.response_body.wanted) == (10, True)
    assert list(description.cache_key.headers) == ["authorization"]
    assert description.cache_key.consumer
    schema = json.loads(description.config_schema)
    assert schema["additionalProperties"] is False
    assert "limits" in schema["properties"]


async def test_config_errors_carry_field_paths_and_calls_reject_bad_configs() -> None:
    plugin = harness(Everything())
    assert await plugin.validate({"limits": [{"max": 1}, {"max": 0}], "x": 1}) == [
        ("limits[1].max", "Input should be greater than 0"),
        ("x", "Extra inputs are not permitted")]
    assert (await plugin.request(config={"limits": [{"max": 2}]})).json() == {"limits": [2]}
    with pytest.raises(ConfigRejected, match=r"limits\[0\]\.max"):
        await plugin.request(config={"limits": [{"max": -1}]})


async def test_response_and_log_hooks_through_the_harness() -> None:
    plugin = Everything()
    result = await harness(plugin).response(status=200, headers={"Server": "x", "a": "b"})
    assert (result.status, result.headers, result.changed) == (201, {"a": "b"}, True)
    await harness(plugin).log({"status": 200}, {"status": 503, "path": "/x"})
    assert plugin.logged == [200, 503]


@dataclasses.dataclass
class DataConfig:
    name: str
    retries: int = 3


class WithDataclass(Plugin[DataConfig]):
    name = "dc"
    version = "1"

    async def on_request(self, request: Request, config: DataConfig) -> Response | None:
        request.set_header("x-retries", str(config.retries))
        return None


async def test_a_dataclass_config_works_too() -> None:
    plugin = harness(WithDataclass(), config=DataConfig("a", 5))
    assert (await plugin.request()).set_headers == {"x-retries": "5"}
    assert await plugin.validate({"retries": "many"}) == [
        ("name", "Field required"),
        ("retries", "Input should be a valid integer, unable to parse string as an integer")]


def test_incomplete_plugins_are_refused_before_they_serve() -> None:
    class Nameless(Plugin[DataConfig]):
        version = "1"

        async def on_request(self, request: Request, config: DataConfig) -> Response | None:
            return None

    class Hookless(Plugin[DataConfig]):
        name = "hookless"
        version = "1"

    with pytest.raises(TypeError, match="name"):
        harness(Nameless())
    with pytest.raises(TypeError, match="implements no hook"):
        harness(Hookless())

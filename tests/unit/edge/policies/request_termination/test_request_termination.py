"""The request-termination policy: schema, cross-field rules and the pre-rendered response."""

from __future__ import annotations

import json
from typing import Any

import pytest

from edgeway.edge.policies import LocalResponse, Phase, builtin_registry
from edgeway.edge.policies.registry import PolicySpec
from edgeway.edge.policies.request_termination import RequestTerminationHandler
from edgeway.edge.policies.request_termination.schema import (
    CONTENT_TYPE_NEEDS_BODY,
    MESSAGE_OR_BODY,
    NO_LINE_BREAKS,
    SCHEMA,
    content_type_is_one_line,
)
from tests.support.exchange import TestExchange


def spec() -> PolicySpec:
    found = builtin_registry().get("request-termination")
    assert found is not None
    return found


def respond(config: dict[str, Any]) -> LocalResponse:
    handler = spec().build(config)
    assert isinstance(handler, RequestTerminationHandler)
    return handler.on_request(TestExchange())


def test_it_declares_its_phase_and_priority() -> None:
    found = spec()
    assert (found.phase, found.priority, found.version) == (Phase.VALIDATION, 1000, "1.0.0")


def test_every_schema_field_is_described_and_typed() -> None:
    assert SCHEMA["additionalProperties"] is False
    for name, prop in SCHEMA["properties"].items():
        assert prop.get("description"), name
        assert prop.get("type"), name


def test_the_defaults_answer_503_with_a_json_message() -> None:
    response = respond({})
    assert response.status == 503
    assert response.headers == (("content-type", "application/json"),)
    assert json.loads(response.body) == {"message": "Service unavailable"}


def test_a_custom_status_and_message_are_used() -> None:
    response = respond({"status_code": 410, "message": "Gone for good ✓"})
    assert response.status == 410
    assert json.loads(response.body) == {"message": "Gone for good ✓"}


def test_a_raw_body_is_sent_as_written_with_its_content_type() -> None:
    response = respond({"status_code": 200, "body": "<h1>down</h1>", "content_type": "text/html"})
    assert response == LocalResponse(200, (("content-type", "text/html"),), b"<h1>down</h1>")


def test_a_raw_body_defaults_to_plain_text() -> None:
    assert respond({"body": "down"}).headers == (("content-type", "text/plain; charset=utf-8"),)


@pytest.mark.parametrize("status", [100, 204, 304])
def test_statuses_without_a_body_send_none(status: int) -> None:
    assert respond({"status_code": status}) == LocalResponse(status, (), b"")


def test_the_response_is_rendered_once_and_reused() -> None:
    handler = spec().build({})
    assert isinstance(handler, RequestTerminationHandler)
    assert handler.on_request(TestExchange()) is handler.on_request(TestExchange(path="/other"))


@pytest.mark.parametrize(
    ("config", "problem"),
    [
        ({"status_code": 99}, (("status_code",), "must be at least 100")),
        ({"status_code": 600}, (("status_code",), "must be at most 599")),
        ({"status_code": "503"}, (("status_code",), "expected an integer, got string")),
        ({"message": "a", "body": "b"}, (("body",), MESSAGE_OR_BODY)),
        ({"content_type": "text/html"}, (("content_type",), CONTENT_TYPE_NEEDS_BODY)),
        ({"body": "b", "content_type": "text html"},
         (("content_type",), "must be a media type like text/html; charset=utf-8")),
        ({"body": "b", "content_type": "text/html\n"},
         (("content_type",), "must be a media type like text/html; charset=utf-8")),
        ({"status": 503}, (("status",), 'unknown field (did you mean "status_code"?)')),
    ],
)  # fmt: skip
def test_an_invalid_config_is_refused_with_the_field(
    config: dict[str, Any], problem: tuple[tuple[str, ...], str]
) -> None:
    assert spec().validate(config) == [problem]


def test_the_one_line_rule_stands_behind_the_pattern() -> None:
    """The pattern already refuses control characters; the named rule keeps the header line
    safe should the pattern ever be loosened."""
    assert list(content_type_is_one_line({"content_type": "text/html\r\nx: y"})) == [
        ("content_type", NO_LINE_BREAKS)]  # fmt: skip
    assert list(content_type_is_one_line({"content_type": "text/html; charset=utf-8"})) == []


@pytest.mark.parametrize(
    "config",
    [{}, {"status_code": 200}, {"message": "x"}, {"body": "x", "content_type": "a/b; q=1"}],
)
def test_a_valid_config_has_no_problems(config: dict[str, Any]) -> None:
    assert spec().validate(config) == []

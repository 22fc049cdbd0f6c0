"""request-validation (every violation in one 400) and request-/response-transform."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.exchange import TestExchange, TestResponse, serve
from tests.unit.edge.policies.helpers import build, chain_of, config_problems, gateway

VALIDATION = {
    "body_schema": {"type": "object", "required": ["name"],
                    "properties": {"name": {"type": "string", "maxLength": 5},
                                   "age": {"type": "integer", "minimum": 0}}},
    "query": {"page": {"type": "integer", "minimum": 1, "required": True},
              "sort": {"enum": ["asc", "desc"]}},
    "headers": {"X-Version": {"type": "string", "pattern": "v[0-9]+", "required": True}},
}  # fmt: skip


def post(body: bytes, query: str = "page=1", **headers: str) -> TestExchange:
    pairs = {"content-type": "application/json", "x-version": "v1", **headers}
    return TestExchange.of(pairs, method="POST", query=query, body=body)


async def validate(exchange: TestExchange, config: dict[str, Any] = VALIDATION) -> TestResponse:
    return await serve(chain_of(build("request-validation", config)), exchange)


async def test_a_valid_request_passes_and_the_body_is_buffered() -> None:
    handler = build("request-validation", VALIDATION)
    assert handler.buffer_request_body == 1 << 20
    assert (await validate(post(b'{"name": "ann", "age": 3}', "page=2&sort=asc"))).status == 200


async def test_every_violation_is_listed_with_where_it_is() -> None:
    exchange = post(b'{"name": "too long", "age": -1}', "page=0&sort=up")
    exchange.remove_header("x-version")
    response = await validate(exchange)
    assert response.status == 400
    body = json.loads(response.body or b"")
    assert body["code"] == "invalid_request"
    assert body["message"] == "the request is not valid (5 problems)"
    assert body["errors"] == [
        {"in": "query", "name": "page", "message": "must be at least 1"},
        {"in": "query", "name": "sort", "message": "must be one of asc, desc"},
        {"in": "header", "name": "x-version", "message": "is required"},
        {"in": "body", "name": "name", "message": "must be at most 5 characters long"},
        {"in": "body", "name": "age", "message": "must be at least 0"},
    ]


@pytest.mark.parametrize(
    ("exchange", "message"),
    [
        (post(b""), "a JSON body is required"),
        (post(b"{", ), "is not valid JSON: Expecting property name enclosed in double quotes:"
         " line 1 column 2 (char 1)"),
        (post(b"{}", **{"content-type": "text/plain"}), "content-type must be application/json"),
        (post(b"[]"), "expected a mapping, got list"),
    ],
)  # fmt: skip
async def test_body_problems_are_explained(exchange: TestExchange, message: str) -> None:
    errors = json.loads((await validate(exchange)).body or b"")["errors"]
    assert errors == [{"in": "body", "name": "", "message": message}]


async def test_unknown_query_parameters_can_be_refused() -> None:
    config = {"query": {"q": {}}, "allow_unknown_query": False}
    response = await validate(TestExchange.of(query="q=1&debug=1"), config)
    assert json.loads(response.body or b"")["errors"] == [
        {"in": "query", "name": "debug", "message": "is not accepted"}]


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"body_schema": {"type": "thing"}}, "routes[0].policies[0].config.body_schema.type: is"
         " not a valid JSON Schema: 'thing' is not valid under any of the given schemas"),
        ({"query": {"a": {"pattern": "("}}}, "routes[0].policies[0].config.query.a.pattern: is"
         " not a valid regular expression: missing ), unterminated subpattern at position 0"),
        ({"query": {"a": {"minimum": 1}}},
         "routes[0].policies[0].config.query.a.minimum: applies to integer and number parameters"
         " only"),
        ({"query": {"a": {"type": "integer", "minimum": 5, "maximum": 1}}},
         "routes[0].policies[0].config.query.a.maximum: must be at least minimum"),
        ({"query": {"a": {"type": "date"}}}, "routes[0].policies[0].config.query.a.type: must be"
         " one of string, integer, number, boolean"),
        ({"headers": {"a": {"required": "yes"}}},
         "routes[0].policies[0].config.headers.a.required: expected true or false, got string"),
    ],
)  # fmt: skip
def test_validation_configs_are_checked(config: dict[str, Any], expected: str) -> None:
    assert config_problems("request-validation", config) == [expected]


TRANSFORM = {
    "headers": {"remove": ["x-debug"], "rename": {"x-old": "x-new"},
                "replace": {"x-env": "prod"}, "add": {"x-user": "$(consumer.name)",
                                                      "x-route": "$(route_id)/$(param.id)"}},
    "query": {"remove": ["utm"], "add": {"src": "edge"}},
    "body": {"remove": ["secret"], "rename": {"user.mail": "user.email"},
             "add": {"meta.request": "$(request_id)", "meta.v": 2}},
}  # fmt: skip


async def test_request_transform_changes_headers_query_and_json_body() -> None:
    consumer = gateway(consumers=[{"name": "acme"}]).consumers["acme"]
    body = json.dumps({"secret": 1, "user": {"mail": "a@b.c"}}).encode()
    exchange = TestExchange.of(
        {"x-debug": "1", "x-old": "o", "x-env": "dev", "content-type": "application/json"},
        query="utm=x&q=1", params={"id": "9"}, consumer=consumer, request_id="r1", body=body,
    )  # fmt: skip
    handler = build("request-transform", TRANSFORM)
    assert handler.buffer_request_body == 1 << 20
    await serve(chain_of(handler), exchange)
    headers = exchange.headers
    assert "x-debug" not in headers
    assert "x-old" not in headers
    assert (headers["x-new"], headers["x-env"], headers["x-user"], headers["x-route"]) == (
        "o", "prod", "acme", "r/9")
    assert dict(exchange.query_params) == {"q": ("1",), "src": ("edge",)}
    assert json.loads(exchange.sent_body or b"") == {
        "user": {"email": "a@b.c"}, "meta": {"request": "r1", "v": 2}}


async def test_a_non_json_body_is_left_alone() -> None:
    exchange = TestExchange.of({"content-type": "text/plain"}, body=b"plain")
    await serve(chain_of(build("request-transform", TRANSFORM)), exchange)
    assert exchange.sent_body is None


async def test_response_transform_changes_headers_and_json_body() -> None:
    config = {"headers": {"remove": ["server"], "add": {"x-request": "$(request_id)"}},
              "body": {"remove": ["internal"]}, "statuses": [200]}  # fmt: skip
    handler = build("response-transform", config)
    assert handler.buffer_response_body == 1 << 20

    def upstream(exchange: TestExchange) -> TestResponse:
        return TestResponse(200, [("server", "x"), ("content-type", "application/json")],
                            b'{"a": 1, "internal": true}')  # fmt: skip

    response = await serve(chain_of(handler), TestExchange.of(request_id="r9"), upstream)
    assert "server" not in response.headers
    assert response.headers["x-request"] == "r9"
    assert json.loads(response.body or b"") == {"a": 1}


@pytest.mark.parametrize(
    ("name", "config", "expected"),
    [
        ("request-transform", {"headers": {"add": {"x": "$(cookie.a)"}}},
         "routes[0].policies[0].config.headers.add.x: unknown reference $(cookie.a) (known:"
         " param.NAME, header.NAME, query.NAME, claim.NAME, request_id, route_id, client_ip,"
         " method, path, host, consumer.name)"),
        ("request-transform", {"headers": {"remove": ["bad header"]}},
         "routes[0].policies[0].config.headers.remove[0]: must be a header name"),
        ("request-transform", {"body": {"add": {"a..b": 1}}},
         "routes[0].policies[0].config.body.add: must be a name of letters, digits, - and _"),
        ("response-transform", {"query": {}},
         "routes[0].policies[0].config.query: unknown field (known fields: body, headers,"
         " max_body_bytes, statuses)"),
    ],
)  # fmt: skip
def test_transform_configs_are_checked(name: str, config: dict[str, Any], expected: str) -> None:
    assert config_problems(name, config) == [expected]

"""The Exchange stream's hand-written protobuf: what the edge writes parses as the messages of
plugin.proto, and what it reads out of replies is what the protobuf runtime reads."""

from __future__ import annotations

import pytest
from google.protobuf import struct_pb2

from edgeway.edge.plugins.stream import encode_request_call, encode_response_call
from edgeway.edge.plugins.wire import (
    EMPTY_PROCEED,
    ERROR_REPLY,
    REQUEST_REPLY,
    RESPONSE_REPLY,
    add_field,
    add_pair,
    add_string,
    pair,
    read_replies,
    varint,
)
from edgeway.v1 import plugin_pb2

TRACE = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
         "tracestate": "vendor=é"}


def field(tag: int, payload: bytes) -> bytes:
    """A length-delimited field written out in full (empty values too)."""
    return bytes((tag,)) + varint(len(payload)) + payload


def calls(*encoded: bytes) -> plugin_pb2.PluginCalls:
    return plugin_pb2.PluginCalls.FromString(b"".join(encoded))


def test_varints_are_the_protobuf_encoding() -> None:
    for value in (0, 1, 127, 128, 300, 4095, 4096, 16383, 16384, 2**32, 2**63 - 1):
        message = plugin_pb2.RequestVerdict(call_id=value)
        assert message.SerializeToString() == (b"\x08" + varint(value) if value else b"")


def test_a_request_call_parses_as_the_message_it_stands_for() -> None:
    request = plugin_pb2.HttpRequest(request_id="r1", method="POST", path="/a",
                                     headers=[plugin_pb2.HeaderEntry(name="x", value="ü" * 200)],
                                     body=b"b" * 70_000)  # sizes of 1 to 3 varint bytes
    config = struct_pb2.Struct()
    config.update({"tag": "t", "limits": [1, 2]})
    encoded = encode_request_call(2**40 + 3, request.SerializeToString(),
                                  config.SerializeToString(), 250, TRACE)
    expected = plugin_pb2.PluginCall(
        request=plugin_pb2.RequestCall(call_id=2**40 + 3, request=request, config=config),
        timeout_ms=250, trace_context=TRACE)
    assert calls(encoded, encoded).calls[:] == [expected, expected]


def test_a_call_without_config_or_trace_leaves_them_unset() -> None:
    call = calls(encode_request_call(1, b"", b"", 1, {})).calls[0]
    assert not call.request.HasField("config")
    assert call.request.HasField("request")
    assert dict(call.trace_context) == {}


def test_a_response_call_carries_its_id_and_everything_else() -> None:
    response = plugin_pb2.ResponseCall(status=502, body=b"\x00" * 70_000, body_truncated=True,
                                       request=plugin_pb2.HttpRequest(path="/p"))
    call = calls(encode_response_call(9, response, 30, TRACE)).calls[0]
    assert call.response == plugin_pb2.ResponseCall(
        call_id=9, status=502, body=b"\x00" * 70_000, body_truncated=True,
        request=plugin_pb2.HttpRequest(path="/p"))
    assert (call.timeout_ms, dict(call.trace_context)) == (30, TRACE)


def test_string_and_map_fields_leave_defaults_out() -> None:
    out: list[bytes] = []
    add_string(out, b"\x0a", "")
    assert out == []
    add_string(out, b"\x6a", "prod")
    add_pair(out, b"\x72", "a", "1")
    add_pair(out, b"\x72", "b", "")
    assert plugin_pb2.HttpRequest.FromString(b"".join(out)) == plugin_pb2.HttpRequest(
        stage="prod", variables={"a": "1", "b": ""})


def test_replies_are_read_with_their_kind_and_call_id() -> None:
    replies = plugin_pb2.PluginReplies(replies=[
        plugin_pb2.PluginReply(request=plugin_pb2.RequestVerdict(
            call_id=1, proceed=plugin_pb2.RequestMutations())),
        plugin_pb2.PluginReply(request=plugin_pb2.RequestVerdict(
            call_id=300, proceed=plugin_pb2.RequestMutations(remove_headers=["x"]))),
        plugin_pb2.PluginReply(request=plugin_pb2.RequestVerdict(
            call_id=2**33, respond=plugin_pb2.DirectResponse(status=403))),
        plugin_pb2.PluginReply(response=plugin_pb2.ResponseVerdict(call_id=4, status=201)),
        plugin_pb2.PluginReply(error=plugin_pb2.CallError(call_id=5, message="boom")),
        plugin_pb2.PluginReply(),  # no kind: left out
    ])
    parts = read_replies(replies.SerializeToString())
    assert [(p.kind, p.call_id) for p in parts] == [
        (REQUEST_REPLY, 1), (REQUEST_REPLY, 300), (REQUEST_REPLY, 2**33), (RESPONSE_REPLY, 4),
        (ERROR_REPLY, 5)]
    assert [p.rest == EMPTY_PROCEED for p in parts] == [True, False, False, False, False]
    assert plugin_pb2.RequestVerdict.FromString(parts[1].body).proceed.remove_headers == ["x"]
    assert plugin_pb2.CallError.FromString(parts[4].body).message == "boom"


def test_a_call_id_that_is_not_the_first_field_is_found() -> None:
    verdict = b"\x12\x00" + b"\x08\x07"  # proceed first, then call_id 7
    reply = b"\x0a" + varint(len(verdict)) + verdict
    [part] = read_replies(b"\x0a" + varint(len(reply)) + reply)
    assert (part.kind, part.call_id, part.rest) == (REQUEST_REPLY, 7, None)
    assert plugin_pb2.RequestVerdict.FromString(part.body).HasField("proceed")


def test_unknown_fields_are_skipped() -> None:
    verdict = b"\x08\x02\x12\x00"
    reply = b"\x0a" + varint(len(verdict)) + verdict + b"\x25\x01\x02\x03\x04"  # fixed32 #4
    payload = b"\x10\x05" + b"\x0a" + varint(len(reply)) + reply  # varint field #2 first
    [part] = read_replies(payload)
    assert (part.call_id, part.rest) == (2, EMPTY_PROCEED)


@pytest.mark.parametrize("payload", [
    b"\x0a\x05\x0a\x03\x08",  # a verdict longer than what follows
    b"\x0a\x80",  # a length cut inside its varint
    b"\x0a\x02\x0a\x05",  # a reply whose verdict runs past the reply's end
    b"\x0b",  # wire type 3 (groups) is not supported
])
def test_malformed_replies_are_refused(payload: bytes) -> None:
    with pytest.raises(ValueError, match=r"truncated|unsupported"):
        read_replies(payload)


@pytest.mark.parametrize(("name", "value"), [
    ("x", ""), ("accept", "application/json"), ("n" * 130, "v" * 20_000), ("ünï", "çödé")])
def test_appended_pairs_equal_the_message_fields(name: str, value: str) -> None:
    parts: list[bytes] = []
    add_pair(parts, b"\x2a", name, value)
    add_pair(parts, b"\x4a", name, value)
    add_string(parts, b"\x0a", value)
    add_field(parts, b"\x5a", value.encode())
    out = b"".join(parts)
    assert out.startswith(pair(b"\x2a", name, value))
    parsed = plugin_pb2.HttpRequest.FromString(out)
    assert [(h.name, h.value) for h in parsed.headers] == [(name, value)]
    assert dict(parsed.params) == {name: value}
    assert (parsed.request_id, parsed.body) == (value, value.encode())
    entry = field(0x0A, name.encode()) + field(0x12, value.encode())
    assert out.startswith(field(0x2A, entry))

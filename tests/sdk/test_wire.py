"""The SDK's Exchange replies written as bytes parse as the messages of plugin.proto."""

from __future__ import annotations

import pytest

from edgeway.sdk._wire import ERROR, REQUEST, RESPONSE, reply, unchanged_proceed, varint
from edgeway.v1 import plugin_pb2


@pytest.mark.parametrize("call_id", [0, 1, 127, 128, 300, 2**21, 2**40 + 3])
def test_an_unchanged_proceed_is_the_verdict_message(call_id: int) -> None:
    expected = plugin_pb2.RequestVerdict(call_id=call_id, proceed=plugin_pb2.RequestMutations())
    assert plugin_pb2.RequestVerdict.FromString(unchanged_proceed(call_id)) == expected
    assert unchanged_proceed(call_id) == expected.SerializeToString()
    if call_id:  # a set field is its key (0x08) and the value as a varint
        assert b"\x08" + varint(call_id) == plugin_pb2.RequestVerdict(
            call_id=call_id).SerializeToString()


def test_joined_replies_are_a_plugin_replies_message() -> None:
    changed = plugin_pb2.RequestVerdict(call_id=2, proceed=plugin_pb2.RequestMutations(
        set_headers=[plugin_pb2.HeaderEntry(name="x", value="v" * 300)]))
    answered = plugin_pb2.ResponseVerdict(call_id=3, status=201, body=b"b" * 20_000)
    error = plugin_pb2.CallError(call_id=4, message="boom")
    encoded = b"".join([
        reply(REQUEST, unchanged_proceed(1)), reply(REQUEST, changed.SerializeToString()),
        reply(RESPONSE, answered.SerializeToString()), reply(ERROR, error.SerializeToString())])
    assert plugin_pb2.PluginReplies.FromString(encoded) == plugin_pb2.PluginReplies(replies=[
        plugin_pb2.PluginReply(request=plugin_pb2.RequestVerdict(
            call_id=1, proceed=plugin_pb2.RequestMutations())),
        plugin_pb2.PluginReply(request=changed), plugin_pb2.PluginReply(response=answered),
        plugin_pb2.PluginReply(error=error)])

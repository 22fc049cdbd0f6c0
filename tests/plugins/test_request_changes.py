"""RequestChanges: a proceed verdict read out of its message once, as plain values."""

from __future__ import annotations

from types import MappingProxyType

from edgeway.edge.plugins import RequestChanges, RequestOutcome
from edgeway.v1 import plugin_pb2


def test_every_kind_of_change_is_read_and_query_values_are_grouped_by_name() -> None:
    m = plugin_pb2.RequestMutations(
        set_headers=[plugin_pb2.HeaderEntry(name="x-a", value="1")],
        remove_headers=["x-gone"],
        set_query=[plugin_pb2.QueryEntry(name="tag", value="a"),
                   plugin_pb2.QueryEntry(name="page", value="2"),
                   plugin_pb2.QueryEntry(name="tag", value="b")],
        remove_query=["debug"], path="/v2/items", body=b"{}",
        context={"tenant": "acme"},
    )  # fmt: skip
    changes = RequestChanges.of(m)
    assert changes == RequestChanges(
        headers={"x-a": "1", "x-gone": None},
        set_query=(("tag", ("a", "b")), ("page", ("2",))), remove_query=("debug",),
        path="/v2/items", body=b"{}", context={"tenant": "acme"},
    )  # fmt: skip
    # immutable: the proxy applies them to many requests as they are
    assert isinstance(changes.headers, MappingProxyType)
    assert isinstance(changes.context, MappingProxyType)


def test_an_unset_path_or_body_is_none_and_an_empty_body_is_kept() -> None:
    changes = RequestChanges.of(plugin_pb2.RequestMutations(body=b""))
    assert (changes.path, changes.body) == (None, b"")
    assert RequestChanges.of(plugin_pb2.RequestMutations()) == RequestChanges()


def test_a_proceeding_outcome_carries_its_message_and_its_changes() -> None:
    m = plugin_pb2.RequestMutations(remove_headers=["x-b"])
    outcome = RequestOutcome.proceeding(m, cached=True)
    assert outcome.mutations is m
    assert outcome.cached
    assert outcome.changes == RequestChanges(headers={"x-b": None})


def test_header_changes_are_worked_out_once_in_the_order_they_apply() -> None:
    m = plugin_pb2.RequestMutations(
        set_headers=[plugin_pb2.HeaderEntry(name="X-A", value="1"),
                     plugin_pb2.HeaderEntry(name="x-b", value="2")],
        remove_headers=["X-B", "x-gone"],
        context={"user.id": "7", "plan_name": "gold"},
    )  # fmt: skip
    assert RequestChanges.of(m, "x-ctx-").headers == {
        "x-a": "1", "x-b": None, "x-gone": None, "x-ctx-user-id": "7", "x-ctx-plan-name": "gold",
    }  # a header removed after it was set stays removed; context values go upstream last
    assert RequestChanges.of(m).headers == {"x-a": "1", "x-b": None, "x-gone": None}
    outcome = RequestOutcome.proceeding(m, context_prefix="x-ctx-")
    assert outcome.changes is not None
    assert outcome.changes.headers["x-ctx-user-id"] == "7"

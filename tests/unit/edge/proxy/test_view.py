"""PolicyView's batch and ready-made changes: ``change_headers``, ``set_response_line(s)``, and
the memo of rendered upstream header lines."""

from __future__ import annotations

from types import MappingProxyType

from edgeway.edge.proxy import view as view_module
from edgeway.edge.proxy.request import Peer, RequestHead
from edgeway.edge.proxy.view import PolicyView, render_lines


def _view(*headers: tuple[bytes, bytes]) -> PolicyView:
    raw = [(b"Host", b"example.com"), *headers]
    return PolicyView(RequestHead(Peer("127.0.0.1"), b"GET", b"/a", raw, False, True), "r", {})


def _forwarded(view: PolicyView) -> bytes:
    view.apply()
    return b"".join(view.head.forwarded)


def test_change_headers_sets_and_removes_at_once_and_later_changes_win() -> None:
    view = _view((b"ApiKey", b"secret"), (b"X-Keep", b"1"))
    view.set_header("x-consumer-name", "forged")
    view.change_headers({"x-consumer-name": "acme", "apikey": None, "x-new": "v"})
    assert view.headers == {"host": "example.com", "x-keep": "1", "x-consumer-name": "acme",
                            "x-new": "v"}  # fmt: skip
    view.remove_header("x-new")
    assert _forwarded(view) == b"X-Keep: 1\r\nx-consumer-name: acme\r\n"


def test_a_response_line_replaces_a_set_or_added_header_of_its_name() -> None:
    view = _view()
    view.add_response_header("RateLimit-Limit", "1")
    view.set_response_header("x-a", "v\r\nset-cookie: s=1")
    view.set_response_line("ratelimit-limit", b"ratelimit-limit: 20\r\n")
    view.add_response_header("x-b", "2")
    assert view.response_lines() == (b"x-a: v  set-cookie: s=1\r\nratelimit-limit: 20\r\n"
                                     b"x-b: 2\r\n")  # fmt: skip
    assert set(view.replaced) == {"x-a", "ratelimit-limit"}


LIMITS = ("ratelimit-limit", "ratelimit-remaining", "ratelimit-reset")


def _limits(remaining: int) -> bytes:
    return b"ratelimit-limit: 9\r\nratelimit-remaining: %d\r\nratelimit-reset: 1\r\n" % remaining


def test_lines_set_together_replace_added_ones_and_are_replaced_one_by_one() -> None:
    view = _view()
    view.add_response_header("RateLimit-Reset", "60")
    view.add_response_header("x-b", "2")
    view.set_response_lines(LIMITS, _limits(5))
    assert view.response_lines() == _limits(5) + b"x-b: 2\r\n"
    assert set(view.replaced) == set(LIMITS)
    view.set_response_line("ratelimit-remaining", b"ratelimit-remaining: 0\r\n")
    assert view.response_lines() == (b"ratelimit-limit: 9\r\nratelimit-reset: 1\r\n"
                                     b"ratelimit-remaining: 0\r\nx-b: 2\r\n")  # fmt: skip
    assert set(view.replaced) == set(LIMITS)


def test_a_second_set_of_the_same_lines_replaces_the_first_whole() -> None:
    """Two limits on a route: the later decision's headers are the ones sent."""
    view = _view()
    view.set_response_header("x-a", "1")
    view.set_response_lines(LIMITS, _limits(5))
    view.set_response_lines(LIMITS, _limits(3))
    assert view.response_lines() == b"x-a: 1\r\n" + _limits(3)
    view.set_response_lines(("x-a",), b"x-a: 2\r\n")
    assert view.response_lines() == _limits(3) + b"x-a: 2\r\n"
    assert set(view.replaced) == {"x-a", *LIMITS}


def test_added_upstream_lines_are_rendered_once_and_the_memo_stays_bounded() -> None:
    view_module._RENDERED.clear()
    for index in range(view_module._RENDERED.limit + 10):
        view = _view()
        view.set_header("x-user", f"u{index}")
        assert _forwarded(view) == f"x-user: u{index}\r\n".encode()
    assert 0 < len(view_module._RENDERED) <= view_module._RENDERED.limit
    view = _view()
    view.set_header("x-evil", "a\r\nx-injected: 1")
    assert _forwarded(view) == render_lines([("x-evil", "a\r\nx-injected: 1")])
    assert _forwarded(_view()) == b""


def test_handed_changes_are_kept_as_they_are_and_never_written() -> None:
    """A cached verdict's changes are handed to many requests: the view reads them as handed
    and copies them before its own writes."""
    verdict = MappingProxyType({"x-principal": "alice", "apikey": None})
    first, second = _view((b"ApiKey", b"secret")), _view()
    first.change_headers(verdict)
    assert first.header_changes is verdict
    first.set_header("x-more", "1")
    first.change_headers({"x-principal": "bob"})
    assert dict(verdict) == {"x-principal": "alice", "apikey": None}
    assert _forwarded(first) == b"x-principal: bob\r\nx-more: 1\r\n"
    second.change_headers(verdict)
    assert _forwarded(second) == b"x-principal: alice\r\n"
    assert _forwarded(_view()) == b""


def test_lines_of_an_immutable_change_mapping_are_rendered_once_for_it() -> None:
    view_module._SHARED.clear()
    verdict = MappingProxyType({"x-principal": "alice", "host": "evil", "x-gone": None})
    for _ in range(3):
        view = _view((b"X-Gone", b"1"), (b"X-Kept", b"2"))
        view.change_headers(verdict)
        assert _forwarded(view) == b"X-Kept: 2\r\nx-principal: alice\r\n"  # host: the edge's
    assert len(view_module._SHARED) == 1


def test_header_reads_one_header_like_headers_without_building_them() -> None:
    view = _view((b"Authorization", b"Bearer t"), (b"X-Many", b"1"), (b"x-many", b"2"))
    assert view.header("authorization") == "Bearer t"
    assert view.header("x-many") == "1,2"
    assert view.header("absent") is None
    assert view.head._headers is None  # nothing built for these reads
    view.change_headers({"authorization": None, "x-new": "v"})
    assert view.header("authorization") is None
    assert view.header("x-new") == "v"
    assert view.header("x-many") == view.headers["x-many"]


def test_handed_context_values_are_kept_and_merged_with_the_policies_context() -> None:
    verdict = MappingProxyType({"principal": "alice"})
    view = _view()
    view.add_contexts(verdict)
    assert view.plugin_context is verdict
    assert view.context_values() == {"principal": "alice"}
    view.context["auth.caller"] = "verified"  # a policy's own value
    view.add_context("tenant", "acme")
    assert dict(verdict) == {"principal": "alice"}
    assert view.plugin_context == {"principal": "alice", "tenant": "acme"}
    assert view.context_values() == {"principal": "alice", "auth.caller": "verified",
                                     "tenant": "acme"}  # fmt: skip
    view.add_contexts(MappingProxyType({"tenant": "other"}))
    assert view.plugin_context["tenant"] == "other"
    assert view.context["tenant"] == "other"

"""PolicyView's batch and ready-made changes: ``change_headers``, ``set_response_line``, and the
memo of rendered upstream header lines."""

from __future__ import annotations

from edgeway.edge.proxy import view as view_module
from edgeway.edge.proxy.request import Peer, RequestHead
from edgeway.edge.proxy.view import PolicyView, render_lines


def _view(*headers: tuple[bytes, bytes]) -> PolicyView:
    raw = [(b"Host", b"example.com"), *headers]
    return PolicyView(RequestHead(Peer("127.0.0.1"), b"GET", b"/a", raw, False, True), "r")


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


def test_added_upstream_lines_are_rendered_once_and_the_memo_stays_bounded() -> None:
    view_module._RENDERED.clear()
    for index in range(view_module._RENDERED_LIMIT + 10):
        view = _view()
        view.set_header("x-user", f"u{index}")
        assert _forwarded(view) == f"x-user: u{index}\r\n".encode()
    assert 0 < len(view_module._RENDERED) <= view_module._RENDERED_LIMIT
    view = _view()
    view.set_header("x-evil", "a\r\nx-injected: 1")
    assert _forwarded(view) == render_lines([("x-evil", "a\r\nx-injected: 1")])
    assert _forwarded(_view()) == b""

"""render_lines: the header lines policies add upstream, never a header injection."""

from __future__ import annotations

from edgeway.edge.proxy.view import render_lines


def test_pairs_become_lines_in_order() -> None:
    pairs = [("ratelimit-limit", "20"), ("ratelimit-remaining", "19"), ("x-tenant", "acme")]
    assert render_lines(pairs) == (b"ratelimit-limit: 20\r\nratelimit-remaining: 19\r\n"
                                   b"x-tenant: acme\r\n")  # fmt: skip
    assert render_lines([]) == b""


def test_cr_lf_and_nul_in_a_value_become_spaces() -> None:
    rendered = render_lines([("x-a", "1"), ("x-evil", "v\r\nset-cookie: s=1\0")])
    assert rendered == b"x-a: 1\r\nx-evil: v  set-cookie: s=1 \r\n"
    assert rendered.count(b"\r\n") == 2


def test_a_tab_is_kept_and_text_beyond_latin_1_is_utf_8() -> None:
    assert render_lines([("x-a", "a\tb")]) == b"x-a: a\tb\r\n"
    assert render_lines([("x-name", "Zoë")]) == "x-name: Zoë\r\n".encode("latin-1")
    assert render_lines([("x-name", "日本")]) == "x-name: 日本\r\n".encode()

"""ExchangeBase: the compiled methods of an exchange, and what its subclasses inherit."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from edgeway.edge.policies.exchange_base import ExchangeBase, calls
from tests.support.exchange import TestExchange


class Recorded(ExchangeBase):
    """Only the two single-header writes and the response header: the rest is inherited."""

    def __init__(self) -> None:
        self.writes: list[tuple[str, str | None]] = []
        self.response: list[tuple[str, str]] = []

    def set_header(self, name: str, value: str) -> None:
        self.writes.append((name, value))

    def remove_header(self, name: str) -> None:
        self.writes.append((name, None))

    def set_response_header(self, name: str, value: str) -> None:
        self.response.append((name, value))


def test_change_headers_sets_and_removes_in_the_order_given() -> None:
    exchange = Recorded()
    changes: Mapping[str, str | None] = {"x-b": "2", "x-gone": None, "x-a": "1"}
    exchange.change_headers(changes)
    assert exchange.writes == [("x-b", "2"), ("x-gone", None), ("x-a", "1")]


def test_a_rendered_response_line_arrives_as_its_value() -> None:
    exchange = Recorded()
    exchange.set_response_line("ratelimit-remaining", b"ratelimit-remaining: 41\r\n")
    exchange.set_response_line("x-caf", "x-caf: caf\xe9\r\n".encode("latin-1"))
    assert exchange.response == [("ratelimit-remaining", "41"), ("x-caf", "caf\xe9")]


def test_what_a_subclass_does_not_implement_says_so() -> None:
    with pytest.raises(NotImplementedError):
        ExchangeBase().header("apikey")
    with pytest.raises(NotImplementedError):
        Recorded().set_body(b"x")


def test_calls_hands_back_an_exchange_and_refuses_anything_else() -> None:
    exchange = TestExchange.of({"apikey": "k"})
    assert calls(exchange) is exchange
    with pytest.raises(TypeError, match="dict does not subclass ExchangeBase"):
        calls({})  # type: ignore[arg-type]

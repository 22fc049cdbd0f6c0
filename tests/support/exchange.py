"""A plain implementation of the policy contract (``Exchange``, ``Response``) for tests.

It is what the proxy provides, minus the network: a request as data, the changes policies ask
for recorded where a test can look (``upstream_headers``, ``response_headers``, ...), and
:func:`serve` driving a policy chain through :mod:`edgeway.edge.policies.chain` the way the
proxy does (request hooks, then an "upstream" function, then response hooks, then ``at_end``).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any
from urllib.parse import parse_qs

from edgeway.edge.compile.model import CompiledConsumer, CompiledCredential
from edgeway.edge.policies.base import LocalResponse, change_one_by_one
from edgeway.edge.policies.chain import PolicyChain, run_request, run_response

__all__ = ["TestExchange", "TestResponse", "Upstream", "answer", "serve"]


@dataclass(eq=False)
class TestExchange:
    """One request in flight (implements ``Exchange``)."""

    __test__ = False

    method: str = "GET"
    path: str = "/"
    query: str = ""
    host: str = "example.com"
    raw_headers: list[tuple[str, str]] = field(default_factory=list)
    client_ip: str = "192.0.2.10"
    route_id: str = "r"
    params: Mapping[str, str] = field(default_factory=dict)
    request_id: str = "req-1"
    body: bytes | None = None
    consumer: CompiledConsumer | None = None
    credential: CompiledCredential | None = None
    context: MutableMapping[str, Any] = field(default_factory=dict)
    authenticated: bool = False
    verified: bool = False
    connection_memo: MutableMapping[object, Any] = field(default_factory=dict)
    """Per exchange here: a test shares one between exchanges to model one connection."""
    response_headers: list[tuple[str, str]] = field(default_factory=list)
    replaced: set[str] = field(default_factory=set)
    query_changes: dict[str, tuple[str, ...] | None] = field(default_factory=dict)
    ended: list[Callable[[], None]] = field(default_factory=list)
    sent_body: bytes | None = None

    @classmethod
    def of(cls, headers: Mapping[str, str] | Iterable[tuple[str, str]] = (), **fields: Any
           ) -> TestExchange:  # fmt: skip
        pairs = list(headers.items()) if isinstance(headers, Mapping) else list(headers)
        return cls(raw_headers=[(k.lower(), v) for k, v in pairs], **fields)

    # -- Request --------------------------------------------------------------------------

    @property
    def headers(self) -> Mapping[str, str]:
        joined: dict[str, str] = {}
        for name, value in self.raw_headers:
            joined[name] = joined[name] + "," + value if name in joined else value
        return MappingProxyType(joined)

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    def header_values(self, name: str) -> tuple[str, ...]:
        return tuple(v for k, v in self.raw_headers if k == name)

    @property
    def query_params(self) -> Mapping[str, tuple[str, ...]]:
        parsed = {k: tuple(v) for k, v in parse_qs(self.query, keep_blank_values=True).items()}
        for name, values in self.query_changes.items():
            if values is None:
                parsed.pop(name, None)
            else:
                parsed[name] = values
        return MappingProxyType(parsed)

    # -- Exchange -------------------------------------------------------------------------

    def authenticate(
        self,
        consumer: CompiledConsumer | None,
        credential: CompiledCredential | None = None,
        verified: bool = True,
    ) -> None:
        self.consumer, self.credential, self.authenticated = consumer, credential, True
        self.verified = verified

    def set_header(self, name: str, value: str) -> None:
        self.remove_header(name)
        self.raw_headers.append((name, value))

    def remove_header(self, name: str) -> None:
        self.raw_headers = [(k, v) for k, v in self.raw_headers if k != name]

    def change_headers(self, changes: Mapping[str, str | None]) -> None:
        change_one_by_one(self, changes)

    def set_query_param(self, name: str, values: tuple[str, ...]) -> None:
        self.query_changes[name] = values

    def remove_query_param(self, name: str) -> None:
        self.query_changes[name] = None

    def set_body(self, body: bytes) -> None:
        self.sent_body = body

    def set_response_header(self, name: str, value: str) -> None:
        self.response_headers = [(k, v) for k, v in self.response_headers if k != name]
        self.response_headers.append((name, value))
        self.replaced.add(name)

    def set_response_line(self, name: str, line: bytes) -> None:
        text = line.decode("latin-1")
        assert text.startswith(name + ": "), line
        assert text.endswith("\r\n"), line
        value = text[len(name) + 2 : -2]
        assert not set(value) & set("\r\n\0"), line
        self.set_response_header(name, value)

    def set_response_lines(self, names: tuple[str, ...], lines: bytes) -> None:
        each = lines.split(b"\r\n")
        assert len(each) == len(names) + 1, lines
        assert each[-1] == b"", lines
        for name, line in zip(names, each, strict=False):
            self.set_response_line(name, line + b"\r\n")

    def add_response_header(self, name: str, value: str) -> None:
        self.response_headers.append((name, value))

    def at_end(self, callback: Callable[[], None]) -> None:
        self.ended.append(callback)

    def end(self) -> None:
        while self.ended:
            self.ended.pop()()

    # -- what a test reads ----------------------------------------------------------------

    def response_header(self, name: str) -> str | None:
        return next((v for k, v in self.response_headers if k == name), None)


@dataclass(eq=False)
class TestResponse:
    """An upstream response (implements ``Response``)."""

    __test__ = False

    status: int = 200
    items: list[tuple[str, str]] = field(default_factory=list)
    body: bytes | None = b""

    @property
    def headers(self) -> Mapping[str, str]:
        joined: dict[str, str] = {}
        for name, value in self.items:
            joined[name] = joined[name] + "," + value if name in joined else value
        return MappingProxyType(joined)

    def header_items(self) -> list[tuple[str, str]]:
        return list(self.items)

    def set_header(self, name: str, value: str) -> None:
        self.remove_header(name)
        self.items.append((name, value))

    def remove_header(self, name: str) -> None:
        self.items = [(k, v) for k, v in self.items if k != name]

    def set_body(self, body: bytes) -> None:
        self.body = body


Upstream = Callable[[TestExchange], TestResponse | Awaitable[TestResponse]]


def answer(status: int = 200, body: bytes = b"ok", **headers: str) -> Upstream:
    """An upstream that always answers ``status`` with ``body`` and ``headers``."""

    def upstream(exchange: TestExchange) -> TestResponse:
        items = [(k.replace("_", "-").lower(), v) for k, v in headers.items()]
        return TestResponse(status, items, body)

    return upstream


async def serve(chain: PolicyChain, exchange: TestExchange, upstream: Upstream | None = None
                ) -> TestResponse:  # fmt: skip
    """Run ``exchange`` through ``chain`` like the proxy: the answer the client gets."""
    try:
        outcome = run_request(chain, exchange)
        if outcome is not None and not isinstance(outcome, LocalResponse):
            outcome = await outcome
        if outcome is not None:
            response = TestResponse(outcome.status, list(outcome.headers), outcome.body)
        else:
            produced = (upstream or answer())(exchange)
            response = await produced if inspect.isawaitable(produced) else produced
            done = run_response(chain, exchange, response)
            if done is not None:
                await done
        response.items = [(k, v) for k, v in response.items if k not in exchange.replaced]
        response.items.extend(exchange.response_headers)
        return response
    finally:
        exchange.end()

"""The chain runner: phase order, the sync fast path, awaitables, consumers' policies."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import ClassVar

from edgeway.edge.compile import PolicyStep
from edgeway.edge.policies.base import (
    Exchange,
    LocalResponse,
    Outcome,
    Phase,
    PolicyHandler,
    Response,
)
from edgeway.edge.policies.chain import bind_handlers, prepare_chain, run_request
from tests.support.exchange import TestExchange, serve
from tests.unit.edge.policies.helpers import gateway, services

STOP = LocalResponse(418, (), b"")


class Recorder(PolicyHandler):
    NAME: ClassVar[str] = "recorder"
    VERSION: ClassVar[str] = "1"
    PHASE: ClassVar[Phase] = Phase.VALIDATION
    PRIORITY: ClassVar[int] = 0

    def __init__(self, label: str, log: list[str], *, slow: bool = False,
                 stop: bool = False) -> None:  # fmt: skip
        super().__init__({})
        self.label, self.log, self.slow, self.stop = label, log, slow, stop

    def on_request(self, exchange: Exchange) -> Outcome | Awaitable[Outcome]:
        if self.slow:
            return self._later()
        self.log.append(self.label)
        return STOP if self.stop else None

    async def _later(self) -> Outcome:
        await asyncio.sleep(0)
        self.log.append(self.label)
        return STOP if self.stop else None


class Stamp(PolicyHandler):
    NAME: ClassVar[str] = "stamp"
    VERSION: ClassVar[str] = "1"
    PHASE: ClassVar[Phase] = Phase.CACHE
    PRIORITY: ClassVar[int] = 0
    RESPONSE_PHASE: ClassVar[Phase | None] = Phase.CACHE_STORE

    def __init__(self, label: str, log: list[str]) -> None:
        super().__init__({})
        self.label, self.log = label, log

    def on_response(self, exchange: Exchange, response: Response) -> None:
        self.log.append(self.label)


def step(handler: PolicyHandler, phase: Phase, priority: int = 0) -> PolicyStep:
    return PolicyStep(handler.NAME, phase, priority, "test", handler.config, handler=handler)


def test_hooks_run_by_phase_then_priority_whatever_the_order_given() -> None:
    log: list[str] = []
    chain = prepare_chain([
        step(Recorder("validation", log), Phase.VALIDATION),
        step(Recorder("auth-low", log), Phase.AUTHENTICATION, 1),
        step(Recorder("auth-high", log), Phase.AUTHENTICATION, 9),
        step(Recorder("cors", log), Phase.CORS),
    ])  # fmt: skip
    assert run_request(chain, TestExchange()) is None  # all sync: no awaitable at all
    assert log == ["cors", "auth-high", "auth-low", "validation"]
    assert chain.after_auth == 3


async def test_the_runner_awaits_only_from_the_first_awaitable_and_stops_at_an_answer() -> None:
    log: list[str] = []
    chain = prepare_chain([
        step(Recorder("a", log), Phase.CORS),
        step(Recorder("b", log, slow=True), Phase.AUTHENTICATION),
        step(Recorder("c", log, stop=True), Phase.VALIDATION),
        step(Recorder("d", log), Phase.REQUEST_TRANSFORM),
    ])  # fmt: skip
    pending = run_request(chain, TestExchange())
    assert log == ["a"]
    assert isinstance(pending, Awaitable)
    assert await pending is STOP
    assert log == ["a", "b", "c"]


async def test_a_consumers_policies_join_after_authentication() -> None:
    compiled = gateway(consumers=[{
        "name": "acme", "credentials": [{"type": "key-auth", "key": "k"}],
        "policies": [{"name": "request-termination", "config": {"status_code": 402}},
                     {"name": "key-auth"}],  # auth-phase policies of a consumer are ignored
    }])  # fmt: skip
    key_auth = next(s for s in compiled.consumers["acme"].policies if s.name == "key-auth")
    assert key_auth.handler is not None
    assert bind_handlers(compiled, services()) == 2
    chain = prepare_chain([key_auth])
    paying = await serve(chain, TestExchange.of({"apikey": "k"}))
    assert paying.status == 402
    assert (await serve(chain, TestExchange.of({"apikey": "k"}))).status == 402
    assert len(chain._by_consumer) == 1


async def test_response_hooks_run_in_response_phase_order_and_at_end_runs_last() -> None:
    log: list[str] = []

    class Transform(Stamp):
        PHASE: ClassVar[Phase] = Phase.RESPONSE_TRANSFORM
        RESPONSE_PHASE: ClassVar[Phase | None] = Phase.RESPONSE_TRANSFORM

    chain = prepare_chain([step(Stamp("store", log), Phase.CACHE),
                           step(Transform("transform", log), Phase.RESPONSE_TRANSFORM)])
    exchange = TestExchange()
    exchange.at_end(lambda: log.append("end"))
    await serve(chain, exchange)
    assert log == ["transform", "store", "end"]


def test_the_chain_collects_what_it_needs_of_the_proxy() -> None:
    class Needs(PolicyHandler):
        NAME: ClassVar[str] = "needs"
        VERSION: ClassVar[str] = "1"
        PHASE: ClassVar[Phase] = Phase.VALIDATION
        PRIORITY: ClassVar[int] = 0

        def __init__(self, request: int, response: int, limit: int | None) -> None:
            super().__init__({})
            self.buffer_request_body, self.buffer_response_body = request, response
            self.body_limit = limit

    chain = prepare_chain([step(Needs(10, 0, 100), Phase.VALIDATION),
                           step(Needs(5, 7, 50), Phase.VALIDATION)])
    assert (chain.buffer_request_body, chain.buffer_response_body, chain.body_limit) == (10, 7, 50)
    assert chain.request == ()  # neither handler has an on_request of its own




class Joining(Recorder):
    """Joins with the next ``Joining`` handler of its phase (like concurrent plugins)."""

    def join(self, following: PolicyHandler) -> PolicyHandler | None:
        if not isinstance(following, Joining):
            return None
        return Joining(f"{self.label}+{following.label}", self.log)


def test_adjacent_handlers_of_a_phase_that_can_join_become_one_and_others_stay_apart() -> None:
    log: list[str] = []
    chain = prepare_chain([
        step(Joining("a", log), Phase.PLUGINS),
        step(Joining("b", log), Phase.PLUGINS),
        step(Joining("c", log), Phase.PLUGINS),
        step(Recorder("plain", log), Phase.PLUGINS),
        step(Joining("d", log), Phase.PLUGINS),
        step(Joining("e", log), Phase.VALIDATION),
    ])  # fmt: skip
    assert run_request(chain, TestExchange()) is None
    assert log == ["e", "a+b+c", "plain", "d"]


def test_plugin_steps_become_what_the_plugin_hook_makes_of_them() -> None:
    log: list[str] = []
    plugin = PolicyStep("audit", Phase.PLUGINS, 0, "routes[0].policies[0]", {}, plugin="audit")
    skipped = PolicyStep("gone", Phase.PLUGINS, 0, "routes[0].policies[1]", {}, plugin="gone")

    def hook(found: PolicyStep) -> PolicyHandler | None:
        return Recorder(found.name, log) if found.plugin == "audit" else None

    chain = prepare_chain([plugin, skipped, step(Recorder("v", log), Phase.VALIDATION)], hook)
    assert run_request(chain, TestExchange()) is None
    assert log == ["v", "audit"]

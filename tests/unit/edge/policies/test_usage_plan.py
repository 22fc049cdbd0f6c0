"""usage-plan in local mode: added to consumers with a plan, throttle then quota, periods."""

from __future__ import annotations

import json

from edgeway.edge.compile import CompiledConfig, PolicyStep
from edgeway.edge.policies.chain import prepare_chain
from edgeway.edge.policies.usage_plan import UsagePlanHandler
from edgeway.edge.policies.usage_plan.store import period_bounds, quota_key
from tests.support.exchange import TestExchange, serve
from tests.unit.edge.policies.helpers import Clock, build, config_problems, gateway, services

PLANS = [
    {"name": "gold", "throttle": {"rate": 1, "burst": 3}, "quota": {"limit": 5, "period": "day"}},
    {"name": "narrow", "quota": {"limit": 1, "period": "month"}, "routes": ["users-api"]},
]  # fmt: skip
CONSUMERS = [
    {"name": "acme", "usage_plan": "gold", "credentials": [{"type": "key-auth", "key": "k-acme"}]},
    {"name": "initech", "usage_plan": "narrow",
     "credentials": [{"type": "key-auth", "key": "k-ini"}]},
    {"name": "free", "credentials": [{"type": "key-auth", "key": "k-free"}]},
]  # fmt: skip


def config() -> CompiledConfig:
    return gateway(usage_plans=PLANS, consumers=CONSUMERS)


class Gate:
    """key-auth on a route; the consumer's implicit usage-plan joins after authentication."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.compiled = config()
        self.using = services(clock)
        for consumer in self.compiled.consumers.values():
            for step in consumer.policies:
                assert step.handler is not None
                step.handler.bind(self.compiled, self.using)
        key_auth = build("key-auth", compiled_config=self.compiled, using=self.using)
        auth_step = PolicyStep("key-auth", key_auth.PHASE, key_auth.PRIORITY, "r",
                               key_auth.config, handler=key_auth)
        self.chain = prepare_chain([auth_step])

    async def status(self, key: str, route: str = "users-api") -> tuple[int, dict[str, str]]:
        response = await serve(self.chain, TestExchange.of({"apikey": key}, route_id=route))
        code = json.loads(response.body)["code"] if response.status != 200 and response.body else ""
        return response.status, {**response.headers, "code": code}


def test_the_compile_step_adds_the_policy_to_consumers_with_a_plan() -> None:
    compiled = config()
    (step,) = compiled.consumers["acme"].policies
    assert isinstance(step.handler, UsagePlanHandler)
    assert step.source == "consumers[0].usage_plan"
    assert compiled.consumers["free"].policies == ()


def test_naming_the_policy_anywhere_turns_the_implicit_one_off() -> None:
    compiled = gateway(usage_plans=PLANS, consumers=CONSUMERS,
                       policies=[{"name": "usage-plan", "config": {"failure_mode": "closed"}}])
    assert compiled.consumers["acme"].policies == ()
    (step,) = compiled.global_policies
    assert step.config["failure_mode"] == "closed"


async def test_throttle_admits_the_burst_then_the_rate() -> None:
    clock = Clock()
    gate = Gate(clock)
    results = [await gate.status("k-acme") for _ in range(4)]
    assert [s for s, _ in results] == [200, 200, 200, 429]
    assert results[3][1]["code"] == "throttled"
    assert results[3][1]["retry-after"] == "1"
    clock.advance(1)
    assert (await gate.status("k-acme"))[0] == 200


async def test_the_quota_counts_admitted_calls_only_and_resets_next_period() -> None:
    clock = Clock()
    gate = Gate(clock)
    statuses = []
    for _ in range(8):
        statuses.append(await gate.status("k-acme"))
        clock.advance(1.0)
    codes = [s for s, _ in statuses]
    assert codes == [200] * 5 + [429] * 3
    assert statuses[4][1]["x-quota-remaining"] == "0"
    assert statuses[5][1]["code"] == "quota_exceeded"
    assert 80_000 < int(statuses[5][1]["retry-after"]) <= 86_400  # until the next UTC day
    clock.advance(86_400)
    assert (await gate.status("k-acme"))[0] == 200


async def test_a_plan_covers_only_its_routes_and_free_consumers_are_not_metered() -> None:
    gate = Gate(Clock())
    assert (await gate.status("k-ini"))[0] == 200
    assert (await gate.status("k-ini"))[0] == 429
    assert (await gate.status("k-ini", route="other"))[0] == 200
    assert [(await gate.status("k-free"))[0] for _ in range(10)] == [200] * 10


def test_periods_are_utc_days_iso_weeks_and_months() -> None:
    moment = 1_767_225_600.0 + 3600  # 2026-01-01T01:00Z, a Thursday
    assert period_bounds("day", moment)[0] == "2026-01-01"
    week_id, start, end = period_bounds("week", moment)
    assert week_id == "2026-W01"
    assert end - start == 7 * 86400
    assert period_bounds("month", moment)[0] == "2026-01"
    assert period_bounds("month", moment)[2] - period_bounds("month", moment)[1] == 31 * 86400


def test_keys_share_a_hash_tag_per_subject() -> None:
    assert quota_key("sha256:ab", "day", "2026-01-01") == "edgeway:usage:{sha256:ab}:day:2026-01-01"


def test_usage_plan_options_are_checked() -> None:
    assert config_problems("usage-plan", {"mode": "x"}) == [
        "routes[0].policies[0].config.mode: must be one of cluster, local"
    ]
    assert config_problems("usage-plan", {}) == []


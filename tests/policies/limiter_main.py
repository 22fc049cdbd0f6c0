"""One "edge" for the fleet-wide rate-limit test: its own process, Services and handler.

Usage: ``python -m tests.policies.limiter_main REDIS_URL REQUESTS CONCURRENCY START_AT [BURST]``.
At epoch time ``START_AT`` it sends REQUESTS requests (CONCURRENCY at a time) through a
``rate-limit`` handler in ``cluster`` mode (BURST per hour, default 1000) and prints
``{"admitted": N, "refused": M}``.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

from edgeway.common.config.loading import config_from_dict
from edgeway.edge.compile import PolicyStep, compile_config
from edgeway.edge.policies import LocalResponse, builtin_registry
from edgeway.edge.policies.chain import prepare_chain, run_request
from edgeway.edge.policies.services import Services
from tests.support.exchange import TestExchange

LIMIT: dict[str, Any] = {"rate": 1000, "period": "hour", "burst": 1000, "key": "route",
                         "mode": "cluster", "failure_mode": "closed", "redis_timeout_ms": 2000}
GATEWAY = {"upstreams": [{"name": "u", "targets": [{"address": "127.0.0.1:9"}]}],
           "routes": [{"id": "r", "paths": ["/"], "upstream": "u"}]}  # fmt: skip


async def main(url: str, requests: int, concurrency: int, start_at: float,
               burst: int) -> dict[str, int]:
    services = Services(redis_url=url)
    spec = builtin_registry().get("rate-limit")
    assert spec is not None
    handler = spec.build({**LIMIT, "rate": burst, "burst": burst})
    handler.bind(compile_config(config_from_dict(GATEWAY)), services)
    chain = prepare_chain([PolicyStep(spec.name, spec.phase, spec.priority, "r", handler.config,
                                      handler=handler)])  # fmt: skip
    counts = {"admitted": 0, "refused": 0, "unavailable": 0}

    async def one() -> None:
        outcome = run_request(chain, TestExchange(route_id="r"))
        if outcome is not None and not isinstance(outcome, LocalResponse):
            outcome = await outcome
        status = 200 if outcome is None else outcome.status
        counts[{200: "admitted", 429: "refused"}.get(status, "unavailable")] += 1

    await asyncio.sleep(max(0.0, start_at - time.time()))
    for offset in range(0, requests, concurrency):
        await asyncio.gather(*(one() for _ in range(min(concurrency, requests - offset))))
    await services.aclose()
    return counts


if __name__ == "__main__":
    url, requests, concurrency, start_at = sys.argv[1:5]
    burst = int(sys.argv[5]) if len(sys.argv) > 5 else 1000
    result = asyncio.run(main(url, int(requests), int(concurrency), float(start_at), burst))
    print(json.dumps(result))

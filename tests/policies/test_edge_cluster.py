"""Fleet-wide policies through real edge processes sharing one real Redis, and issue 5's YAML
(``deploy/examples/policies.yaml``) served as written by an edge."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.edge.client import Client
from tests.policies.edge_helpers import call, error_code, sent_header
from tests.support.edge_process import StandaloneEdge
from tests.support.jwtkeys import rsa_pair, token

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 1000
SHARED = f"""\
routes:
  - id: shared
    paths: ["/shared"]
    mock: {{status: 200, body: "ok"}}
    policies:
      - name: rate-limit
        config: {{rate: {LIMIT}, period: hour, burst: {LIMIT}, key: route, mode: cluster,
                  failure_mode: closed, redis_timeout_ms: 2000}}
"""


@pytest.fixture
def two_edges(redis_url: str, tmp_path: Path) -> Iterator[list[StandaloneEdge]]:
    edges = [StandaloneEdge(SHARED, tmp_path, name=f"edge-{i}", redis_url=redis_url,
                            access_log=False) for i in range(2)]  # fmt: skip
    try:
        for edge in edges:
            edge.start()
        yield edges
    finally:
        for edge in edges:
            edge.stop()


async def hammer(port: int, requests: int, connections: int) -> dict[int, int]:
    """``requests`` GETs of /shared over ``connections`` keep-alive connections: by status."""
    counts: dict[int, int] = {}

    async def one_connection(share: int) -> None:
        async with await Client.open(port) as client:
            for _ in range(share):
                status = (await client.request("GET", "/shared")).status
                counts[status] = counts.get(status, 0) + 1

    shares = [requests // connections + (i < requests % connections) for i in range(connections)]
    await asyncio.gather(*(one_connection(share) for share in shares))
    return counts


async def test_two_edges_sharing_one_limit_admit_the_limit_not_twice_it(
    two_edges: list[StandaloneEdge],
) -> None:
    started = time.monotonic()
    results = await asyncio.gather(*(hammer(edge.port, 1500, 16) for edge in two_edges))
    elapsed = time.monotonic() - started
    admitted = [result.get(200, 0) for result in results]
    assert all(set(result) <= {200, 429} for result in results), results  # no 503
    assert all(count > 100 for count in admitted), results  # both edges really competed
    # the bucket refills 1000/hour: at most a token or two more during the run
    assert LIMIT <= sum(admitted) <= LIMIT * 1.01 + elapsed * LIMIT / 3600, results
    print(f"two edges, one limit of {LIMIT}: admitted {admitted} = {sum(admitted)} "
          f"({sum(admitted) / LIMIT - 1:+.2%}) of 3000 in {elapsed:.2f}s")


async def test_the_workers_of_one_edge_share_a_cluster_limit_through_redis(
    redis_url: str, tmp_path: Path
) -> None:
    limited = SHARED.replace(f"rate: {LIMIT}", "rate: 10").replace(f"burst: {LIMIT}", "burst: 10")
    edge = StandaloneEdge(limited, tmp_path, redis_url=redis_url, workers=2, access_log=False)
    edge.start()
    try:
        statuses = [(await call(edge.port, "/shared")).status for _ in range(30)]  # new
    finally:  # connections: the kernel spreads them over both workers
        edge.stop()
    assert statuses.count(200) == 10, statuses
    assert statuses.count(429) == 20, statuses


# -- issue 5's YAML, as written -----------------------------------------------------------------


@pytest.fixture(scope="module")
def example(echo_port: int, redis_server: object, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[StandaloneEdge]:  # fmt: skip
    text = (ROOT / "deploy/examples/policies.yaml").read_text()
    assert '"127.0.0.1:8002"' in text
    url = getattr(redis_server, "url")  # noqa: B009 (the session's EmbeddedRedis)
    edge = StandaloneEdge(text.replace('"127.0.0.1:8002"', f'"127.0.0.1:{echo_port}"'),
                          tmp_path_factory.mktemp("example"), redis_url=url)  # fmt: skip
    edge.start()
    yield edge
    edge.stop()


async def test_the_issue_yaml_authenticates_limits_and_answers_preflights(
    example: StandaloneEdge,
) -> None:
    port = example.port
    assert (await call(port, "/orders")).status == 401
    by_header = await call(port, "/orders", headers=[("apikey", "acme-secret-key")])
    assert sent_header(by_header, "x-consumer-name") == "acme"
    assert sent_header(by_header, "apikey") is None
    assert by_header.header("ratelimit-limit") == "20"
    by_query = await call(port, "/orders?apikey=acme-secret-key")
    assert by_query.status == 200
    statuses = [(await call(port, "/orders", headers=[("apikey", "acme-secret-key")])).status
                for _ in range(20)]  # fmt: skip
    assert statuses.count(200) == 18  # 20 a minute for acme, 2 spent above
    assert statuses[-1] == 429
    preflight = await call(port, "/orders", method="OPTIONS", headers=[
        ("origin", "https://app.example.com"), ("access-control-request-method", "POST")])
    assert preflight.status == 204
    assert preflight.header("access-control-allow-origin") == "https://app.example.com"


async def test_the_issue_yaml_checks_tokens_on_profile(example: StandaloneEdge) -> None:
    missing = await call(example.port, "/profile")
    assert (missing.status, error_code(missing)) == (401, "missing_token")
    signed = token(rsa_pair(), iss="https://idp.example.com/", aud="orders-api")
    unreachable = await call(example.port, "/profile", headers=[("authorization",
                                                                  f"Bearer {signed}")])
    assert (unreachable.status, error_code(unreachable)) == (503, "jwks_unavailable")

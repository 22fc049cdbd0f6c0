"""Configs for the store tests, built with the generated classes (no YAML, no validation)."""

from __future__ import annotations

import base64
import hashlib
import random

from edgeway.v1.config_pb2 import GatewayConfig


def small_config(n: int) -> GatewayConfig:
    """A small config, different for every ``n``."""
    config = GatewayConfig()
    config.upstreams.add(name="users").targets.add(address=f"10.0.0.{n % 250 + 1}:8080")
    route = config.routes.add(id=f"users-{n}", paths=[f"/v{n}/users/{{id}}"], upstream="users")
    route.methods.extend(["GET", "PUT"])
    config.variables["release"] = str(n)
    return config


def big_config(routes: int = 10_000, consumers: int = 10_000, seed: int = 7) -> GatewayConfig:
    """A large config: routes with parameters and policies, consumers with hashed keys and JWT keys.

    Key hashes and public keys are pseudo-random (seeded), so the config compresses like a
    real one (hashes and keys do not compress) and is the same on every run.
    """
    rng = random.Random(seed)
    config = GatewayConfig()
    for u in range(20):
        upstream = config.upstreams.add(name=f"svc-{u:02d}", algorithm="round-robin")
        for t in range(3):
            upstream.targets.add(address=f"10.{u}.{t}.10:8080", weight=t + 1)
    for p, (rate, burst, quota) in enumerate([(10.0, 20, 10_000), (100.0, 200, 1_000_000)]):
        plan = config.usage_plans.add(name=("basic", "pro")[p])
        plan.throttle.rate, plan.throttle.burst = rate, burst
        plan.quota.limit, plan.quota.period = quota, "month"
    for r in range(routes):
        route = config.routes.add(
            id=f"route-{r:05d}",
            hosts=[f"api{r % 40}.example.com"],
            paths=[f"/v1/team-{r % 97}/things-{r}/{{id}}"],
            methods=["GET", "POST"] if r % 2 else ["GET"],
            upstream=f"svc-{r % 20:02d}",
            priority=r % 5,
        )
        route.tags["team"] = f"team-{r % 97}"
        if r % 10 == 0:
            policy = route.policies.add(name="rate-limit")
            policy.config.update({"limit": 100 + r, "window": "1m", "by": "consumer"})
    for c in range(consumers):
        consumer = config.consumers.add(
            name=f"consumer-{c:05d}", groups=["customers"], usage_plan=("basic", "pro")[c % 2]
        )
        key_hash = "sha256:" + hashlib.sha256(rng.randbytes(24)).hexdigest()
        consumer.credentials.add(type="key-auth", id=f"key-{c}", key_hash=key_hash)
        public_key = base64.b64encode(rng.randbytes(192)).decode()
        consumer.credentials.add(
            type="jwt", issuer=f"issuer-{c}", algorithm="RS256",
            public_key=f"-----BEGIN PUBLIC KEY-----\n{public_key}\n-----END PUBLIC KEY-----",
        )
    return config

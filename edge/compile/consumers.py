"""Compile consumers, their credentials and the usage plans that throttle and meter them.

Credential rules per type (besides ``id``, which any type may carry):

- ``key-auth``: exactly one of ``key`` (before apply hashes it) and ``key_hash``
  (``sha256:<64 hex>``); no two credentials anywhere may share a key;
- ``basic-auth``: ``username`` and exactly one of ``password`` / ``password_hash``
  (``pbkdf2-sha256$...``); user names are unique across consumers;
- ``jwt``: ``issuer`` (unique), exactly one of ``secret`` (HS* algorithms) and ``public_key``
  (a PEM key, other algorithms); ``algorithm`` defaults to HS256 with a secret and is required
  with a public key;
- ``hmac``: ``username`` (the key id, unique) and ``secret``.

A consumer with a usage plan gets the built-in ``usage-plan`` policy in its chain, so the plan
is enforced without naming the policy, unless the config names ``usage-plan`` itself anywhere
(globally, on routes or on consumers): then it runs where it is named, with its options.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import MappingProxyType

from google.protobuf import struct_pb2

from edgeway.common.config.secrets import (
    KEY_HASH_PATTERN,
    KEY_HASH_PREFIX,
    PASSWORD_HASH_PATTERN,
    hash_api_key,
)
from edgeway.common.errors import join_path
from edgeway.edge.compile import rules
from edgeway.edge.compile.model import (
    CompiledConsumer,
    CompiledCredential,
    CompiledUsagePlan,
    CredentialIndex,
    CredentialMatch,
    PolicyStep,
)
from edgeway.edge.compile.policies import PolicyContext, chain, compile_policies
from edgeway.edge.compile.rules import Errors
from edgeway.v1 import config_pb2

__all__ = ["compile_consumers", "compile_usage_plans"]

MAX_PBKDF2_ITERATIONS = 10_000_000
"""A stored hash may not ask for more work than this per login (protects the edge's CPU)."""

_FIELDS_BY_TYPE: dict[str, frozenset[str]] = {
    "key-auth": frozenset({"key", "key_hash"}),
    "basic-auth": frozenset({"username", "password", "password_hash"}),
    "jwt": frozenset({"issuer", "secret", "public_key", "algorithm"}),
    "hmac": frozenset({"username", "secret"}),
}
_SECRET_FIELDS = ("key", "key_hash", "username", "password", "password_hash", "issuer", "secret",
                  "public_key", "algorithm")  # fmt: skip


def _exactly_one(
    credential: config_pb2.Credential, first: str, second: str, path: str, errors: Errors
) -> None:
    has_first, has_second = bool(getattr(credential, first)), bool(getattr(credential, second))
    if has_first and has_second:
        errors.add(path, f"set either {first} or {second}, not both")
    elif not has_first and not has_second:
        errors.add(path, f"needs {first} or {second}")


def _check_credential(credential: config_pb2.Credential, path: str, errors: Errors) -> None:
    kind = credential.type
    for name in _SECRET_FIELDS:
        if getattr(credential, name) and name not in _FIELDS_BY_TYPE[kind]:
            errors.add(join_path(path, name), f"is not used by {kind} credentials")
    if kind == "key-auth":
        _exactly_one(credential, "key", "key_hash", path, errors)
        if credential.key_hash and not KEY_HASH_PATTERN.fullmatch(credential.key_hash):
            errors.add(
                join_path(path, "key_hash"), 'must be "sha256:" and 64 lower-case hex digits'
            )
    elif kind == "basic-auth":
        if not credential.username:
            errors.add(join_path(path, "username"), "is required for basic-auth")
        _exactly_one(credential, "password", "password_hash", path, errors)
        if credential.password_hash:
            found = PASSWORD_HASH_PATTERN.fullmatch(credential.password_hash)
            if found is None:
                message = 'must look like "pbkdf2-sha256$<iterations>$<salt>$<hash>" (base64)'
                errors.add(join_path(path, "password_hash"), message)
            elif int(found.group(1)) > MAX_PBKDF2_ITERATIONS:
                limit = MAX_PBKDF2_ITERATIONS
                errors.add(
                    join_path(path, "password_hash"), f"asks for more than {limit} iterations"
                )
    elif kind == "jwt":
        if not credential.issuer:
            errors.add(join_path(path, "issuer"), "is required for jwt")
        _exactly_one(credential, "secret", "public_key", path, errors)
        algorithm_path = join_path(path, "algorithm")
        algorithm = credential.algorithm
        if algorithm and rules.one_of(algorithm, rules.JWT_ALGORITHMS, algorithm_path, errors):
            symmetric = algorithm.startswith("HS")
            if symmetric and credential.public_key:
                errors.add(algorithm_path, f"{algorithm} verifies with a secret, not a public_key")
            elif not symmetric and credential.secret:
                errors.add(algorithm_path, f"{algorithm} verifies with a public_key, not a secret")
        elif not algorithm and credential.public_key:
            errors.add(algorithm_path, "is required with a public_key (RS256, ES256, ...)")
        if credential.public_key and not credential.public_key.lstrip().startswith("-----BEGIN"):
            errors.add(
                join_path(path, "public_key"), "must be a PEM key (-----BEGIN PUBLIC KEY-----)"
            )
    elif kind == "hmac":
        if not credential.username:
            errors.add(join_path(path, "username"), "is required for hmac (the key id)")
        if not credential.secret:
            errors.add(join_path(path, "secret"), "is required for hmac")


def _compiled(consumer: str, credential: config_pb2.Credential) -> CompiledCredential:
    key_hash = credential.key_hash or (hash_api_key(credential.key) if credential.key else "")
    algorithm = credential.algorithm or ("HS256" if credential.type == "jwt" else "")
    return CompiledCredential(
        consumer=consumer,
        type=credential.type,
        id=credential.id,
        key_hash=key_hash,
        username=credential.username,
        password_hash=credential.password_hash,
        issuer=credential.issuer,
        secret=credential.secret,
        public_key=credential.public_key,
        algorithm=algorithm,
    )


USAGE_PLAN_POLICY = "usage-plan"


def _names_usage_plan(config: config_pb2.GatewayConfig) -> bool:
    groups = [config.policies, *(r.policies for r in config.routes),
              *(c.policies for c in config.consumers)]  # fmt: skip
    return any(p.name == USAGE_PLAN_POLICY for group in groups for p in group)


def _usage_plan_step(context: PolicyContext, path: str) -> PolicyStep | None:
    """The implicit ``usage-plan`` step (default options) of a consumer with a plan."""
    spec = context.registry.get(USAGE_PLAN_POLICY)
    if spec is None:
        return None
    _, handler = context.build(spec, struct_pb2.Struct())
    if handler is None:
        return None
    return PolicyStep(spec.name, spec.phase, spec.priority, path, handler.config, handler=handler)


class _Unique:
    """Remembers which path first used a value, to name both sides of a clash."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.first: dict[str, tuple[str, str]] = {}
        self.items: dict[str, CompiledCredential] = {}

    def add(self, value: str, item: CompiledCredential, path: str, errors: Errors) -> None:
        if not value:
            return
        if value in self.first:
            owner, where = self.first[value]
            errors.add(path, f"{self.what} is already used by consumer {owner!r} ({where})")
            return
        self.first[value] = (item.consumer, path)
        self.items[value] = item


_CONSUMER_NAME_RULE = "must be printable, without surrounding spaces, at most 256 characters"


def _consumer_name_ok(name: str) -> bool:
    return name.isprintable() and name == name.strip() and len(name) <= 256


def compile_consumers(
    config: config_pb2.GatewayConfig,
    plans: Mapping[str, CompiledUsagePlan],
    context: PolicyContext,
    errors: Errors,
) -> tuple[dict[str, CompiledConsumer], CredentialIndex]:
    """Consumers by name and their credentials indexed by what a request presents."""
    consumers: dict[str, CompiledConsumer] = {}
    first_index: dict[str, int] = {}
    implicit_plans = not _names_usage_plan(config)
    keys, basic, issuers, hmac = (
        _Unique("this API key"), _Unique("this user name"),
        _Unique("this issuer"), _Unique("this key id"),
    )  # fmt: skip
    for index, consumer in enumerate(config.consumers):
        path = join_path("consumers", index)
        name = consumer.name
        problem = rules.name_problem(name, "consumer name", "consumers", first_index,
                                     valid=_consumer_name_ok, rule=_CONSUMER_NAME_RULE)
        if problem:
            errors.add(join_path(path, "name"), problem)
        credentials: list[CompiledCredential] = []
        for c_index, credential in enumerate(consumer.credentials):
            c_path = join_path(join_path(path, "credentials"), c_index)
            kind = rules.one_of(credential.type, rules.CREDENTIAL_TYPES, join_path(c_path, "type"),
                                errors)  # fmt: skip
            if kind is None:
                continue
            _check_credential(credential, c_path, errors)
            item = _compiled(name, credential)
            credentials.append(item)
            if kind == "key-auth":
                keys.add(item.key_hash, item, c_path, errors)
            elif kind == "basic-auth":
                basic.add(item.username, item, join_path(c_path, "username"), errors)
            elif kind == "jwt":
                issuers.add(item.issuer, item, join_path(c_path, "issuer"), errors)
            else:
                hmac.add(item.username, item, join_path(c_path, "username"), errors)
        plan = None
        if consumer.usage_plan:
            plan = plans.get(consumer.usage_plan)
            if plan is None:
                known = [p.name for p in config.usage_plans if p.name]
                message = rules.unknown("usage plan", consumer.usage_plan, known)
                errors.add(join_path(path, "usage_plan"), message)
        for g_index, group in enumerate(consumer.groups):
            if not group.strip():
                errors.add(join_path(join_path(path, "groups"), g_index), "must not be empty")
        steps = compile_policies(consumer.policies, join_path(path, "policies"), context, errors)
        if plan is not None and implicit_plans:
            implicit = _usage_plan_step(context, join_path(path, "usage_plan"))
            if implicit is not None:
                steps.append(implicit)
        if name and name not in first_index:
            first_index[name] = index
            consumers[name] = CompiledConsumer(
                name=name,
                groups=frozenset(consumer.groups),
                usage_plan=plan,
                credentials=tuple(credentials),
                policies=chain(steps),
                tags=MappingProxyType(dict(consumer.tags)),
            )

    def matches(unique: _Unique) -> Mapping[str, CredentialMatch]:
        return MappingProxyType({
            value: CredentialMatch(consumers[item.consumer], item)
            for value, item in unique.items.items()
            if item.consumer in consumers  # else the consumer's name was refused
        })  # fmt: skip

    by_key_hash = matches(keys)
    by_key_digest = {bytes.fromhex(key_hash.removeprefix(KEY_HASH_PREFIX)): match
                     for key_hash, match in by_key_hash.items()
                     if KEY_HASH_PATTERN.fullmatch(key_hash)}  # fmt: skip
    credential_index = CredentialIndex(
        by_key_hash=by_key_hash,
        by_key_digest=MappingProxyType(by_key_digest),
        by_basic_username=matches(basic),
        by_jwt_issuer=matches(issuers),
        by_hmac_username=matches(hmac),
    )
    return consumers, credential_index


def compile_usage_plans(
    config: config_pb2.GatewayConfig, errors: Errors
) -> dict[str, CompiledUsagePlan]:
    """Usage plans by name: unique names, throttle rate above 0 and burst 0 or more, quota
    limit above 0 with a period of day|week|month, and route ids that exist."""
    route_ids = {route.id for route in config.routes if route.id}
    plans: dict[str, CompiledUsagePlan] = {}
    first_index: dict[str, int] = {}
    for index, plan in enumerate(config.usage_plans):
        path = join_path("usage_plans", index)
        name = plan.name
        problem = rules.name_problem(name, "usage plan name", "usage_plans", first_index)
        if problem:
            errors.add(join_path(path, "name"), problem)
        rate: float | None = None
        burst = 0
        if plan.HasField("throttle"):
            t_path = join_path(path, "throttle")
            rate, burst = plan.throttle.rate, plan.throttle.burst
            if not (math.isfinite(rate) and 0 < rate <= rules.MAX_RATE):
                errors.add(
                    join_path(t_path, "rate"), f"must be above 0 and at most {rules.MAX_RATE:g}"
                )
            if not 0 <= burst <= rules.MAX_BURST:
                errors.add(join_path(t_path, "burst"), f"must be between 0 and {rules.MAX_BURST}")
        limit: int | None = None
        period: str | None = None
        if plan.HasField("quota"):
            q_path = join_path(path, "quota")
            limit = plan.quota.limit
            if limit < 1:
                errors.add(join_path(q_path, "limit"), "must be 1 or more")
            period = rules.one_of(plan.quota.period, rules.QUOTA_PERIODS,
                                  join_path(q_path, "period"), errors)  # fmt: skip
        for r_index, route_id in enumerate(plan.routes):
            if route_id not in route_ids:
                message = rules.unknown("route", route_id, route_ids)
                errors.add(join_path(join_path(path, "routes"), r_index), message)
        if name and name not in first_index:
            first_index[name] = index
            plans[name] = CompiledUsagePlan(
                name, rate, burst, limit, period, frozenset(plan.routes)
            )
    return plans

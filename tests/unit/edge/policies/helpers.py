"""Building, binding and running built-in policies in tests, through the real compile step.

Handlers are built from the registry (validated, defaults filled in), bound to a real
:class:`Services` (no Redis unless given, an adjustable clock) and the compiled config of a
small gateway, and run through :mod:`edgeway.edge.policies.chain` with the plain
``TestExchange`` of ``tests.support.exchange``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from edgeway.edge.compile import CompiledConfig, PolicyStep
from edgeway.edge.policies import builtin_registry
from edgeway.edge.policies.base import PolicyHandler
from edgeway.edge.policies.chain import PolicyChain, prepare_chain
from edgeway.edge.policies.registry import PolicySpec
from edgeway.edge.policies.services import Services
from tests.unit.configs import base, compiled, problems

__all__ = ["Clock", "build", "chain_of", "config_problems", "gateway", "services", "spec"]


class Clock:
    """A settable monotonic and wall clock."""

    def __init__(self, now: float = 1_000.0, wall: float = 1_767_225_600.0) -> None:
        self.now = now
        self.epoch = wall

    def __call__(self) -> float:
        return self.now

    def wall(self) -> float:
        return self.epoch + self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def spec(name: str) -> PolicySpec:
    found = builtin_registry().get(name)
    assert found is not None, name
    return found


def services(clock: Clock | None = None, **kwargs: Any) -> Services:
    clock = clock or Clock()
    return Services(clock=clock, wall=clock.wall, **kwargs)


def gateway(**extra: Any) -> CompiledConfig:
    """A compiled minimal gateway with ``extra`` top-level fields (consumers, plans, ...)."""
    return compiled(base(**extra))


def build(name: str, config: dict[str, Any] | None = None, *, compiled_config:
          CompiledConfig | None = None, using: Services | None = None) -> Any:  # fmt: skip
    """A bound handler of policy ``name`` for a valid ``config``."""
    found = spec(name)
    assert found.validate(config or {}) == [], found.validate(config or {})
    handler = found.build(config or {})
    handler.bind(compiled_config or gateway(), using or services())
    return handler


def chain_of(*handlers: PolicyHandler) -> PolicyChain:
    steps: Iterable[PolicyStep] = [
        PolicyStep(h.NAME, h.PHASE, h.PRIORITY, f"test[{i}]", h.config, handler=h)
        for i, h in enumerate(handlers)
    ]
    return prepare_chain(steps)


def config_problems(name: str, config: dict[str, Any], **extra: Any) -> list[str]:
    """The apply-time errors of ``config`` for policy ``name`` on a route, with paths
    (``extra``: more top-level fields of the gateway config, such as ``consumers``)."""
    data = base(**extra)
    data["routes"][0]["policies"] = [{"name": name, "config": config}]
    return problems(data)

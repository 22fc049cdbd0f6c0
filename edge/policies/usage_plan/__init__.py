"""``usage-plan``: enforce consumers' usage plans (throttle and quota, AWS semantics).

The compile step adds this policy to every consumer that has a usage plan, so a plan is
enforced without naming the policy; naming it (globally or on a consumer) sets its options.
:func:`usage` reads a subject's consumption (``edgeway usage --key K``).
"""

from edgeway.edge.policies.usage_plan.handler import UsagePlanHandler
from edgeway.edge.policies.usage_plan.schema import CHECKS, SCHEMA
from edgeway.edge.policies.usage_plan.store import subject_for_consumer, subject_for_key, usage

HANDLER = UsagePlanHandler

__all__ = [
    "CHECKS",
    "HANDLER",
    "SCHEMA",
    "UsagePlanHandler",
    "subject_for_consumer",
    "subject_for_key",
    "usage",
]

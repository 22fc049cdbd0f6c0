"""The keywords, name rules and numeric bounds the compile step enforces, in one place.

Numeric settings use 0 (or absence) for "the default". Bounds, in milliseconds where the name
ends in ``_ms``:

==============================================  ===============  =========
setting                                          allowed          default
==============================================  ===============  =========
timeouts.connect_ms                              1..60000         5000
timeouts.first_byte_ms (<= total_ms)             1..600000        total_ms
timeouts.total_ms                                1..600000        29000
retries.attempts                                 0..10            2
retries.budget_percent                           0..100           20
retries.on_connect_failure                       true/false       true
health_checks.active.interval_ms                 1000..3600000    10000
health_checks.active.timeout_ms (< interval)     1..60000         2000
health_checks.active.*_threshold                 1..100           2 / 3
health_checks.active.healthy_statuses            100..599         200..399
health_checks.passive.max_failures               1..1000          5
health_checks.passive.ejection_ms                1000..3600000    30000
circuit_breaker.failure_threshold                1..10000         5
circuit_breaker.open_ms                          100..3600000     30000
upstream keepalive_pool                          1..10000         64
limits.max_body_bytes (global or per route)      1..2^40          10 MiB
limits.max_header_bytes (global)                 1024..1048576    32768
limits.max_headers (global)                      1..10000         100
limits.max_url_bytes (global, < header bytes)    256..1048576     8192
plugin timeout_ms                                1..60000         200
plugin cache_ttl_ms                              0..86400000      0 (off)
mock status                                      100..599         200
usage plan throttle.rate                         > 0, <= 1e9      -
usage plan throttle.burst                        0..1000000000    0
usage plan quota.limit                           >= 1             -
==============================================  ===============  =========
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass

from edgeway.common.errors import ConfigError

__all__ = [
    "ALGORITHMS",
    "CREDENTIAL_TYPES",
    "FAILURE_MODES",
    "HASH_SOURCES",
    "HASH_SOURCES_NEEDING_NAME",
    "JWT_ALGORITHMS",
    "METHODS",
    "NAME",
    "PATH_MATCHES",
    "QUOTA_PERIODS",
    "ROUTE_ID",
    "SCHEMES",
    "Bound",
    "Errors",
    "closest",
    "name_problem",
    "one_of",
    "suggestion",
    "unknown",
]

ROUTE_ID = re.compile(r"[a-z0-9][a-z0-9._-]{0,127}")
ROUTE_ID_RULE = (
    "must be lower-case letters, digits, '.', '_' or '-', starting with a letter or digit, "
    "at most 128 characters"
)
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
NAME_RULE = (
    "must be letters, digits, '.', '_' or '-', starting with a letter or digit, "
    "at most 128 characters"
)
TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
"""An HTTP token (header names)."""

PATH_MATCHES = ("prefix", "exact", "regex")
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT")
ALGORITHMS = ("round-robin", "least-connections", "consistent-hash")
HASH_SOURCES = ("header", "cookie", "client-ip", "consumer", "path-param")
HASH_SOURCES_NEEDING_NAME = frozenset({"header", "cookie", "path-param"})
SCHEMES = ("http", "https")
CREDENTIAL_TYPES = ("key-auth", "basic-auth", "jwt", "hmac")
JWT_ALGORITHMS = (
    "HS256", "HS384", "HS512", "RS256", "RS384", "RS512",
    "ES256", "ES384", "ES512", "PS256", "PS384", "PS512", "EdDSA",
)  # fmt: skip
QUOTA_PERIODS = ("day", "week", "month")
FAILURE_MODES = ("closed", "open")
PARAM_KINDS = ("str", "int", "uuid", "path")


@dataclass(frozen=True, slots=True)
class Bound:
    """An integer setting: 0 means ``default``, otherwise it must lie in ``low..high``."""

    low: int
    high: int
    default: int

    def resolve(self, value: int, path: str, errors: Errors) -> int:
        """``value`` or the default; an error when out of bounds."""
        if value == 0:
            return self.default
        if not self.low <= value <= self.high:
            errors.add(path, f"must be between {self.low} and {self.high} (0 or unset: default)")
            return self.default
        return value


CONNECT_MS = Bound(1, 60_000, 5_000)
FIRST_BYTE_MS = Bound(1, 600_000, 0)  # default: total_ms
TOTAL_MS = Bound(1, 600_000, 29_000)
RETRY_ATTEMPTS_MAX = 10
RETRY_ATTEMPTS_DEFAULT = 2
RETRY_BUDGET_DEFAULT = 20
INTERVAL_MS = Bound(1_000, 3_600_000, 10_000)
CHECK_TIMEOUT_MS = Bound(1, 60_000, 2_000)
HEALTHY_THRESHOLD = Bound(1, 100, 2)
UNHEALTHY_THRESHOLD = Bound(1, 100, 3)
MAX_FAILURES = Bound(1, 1_000, 5)
EJECTION_MS = Bound(1_000, 3_600_000, 30_000)
FAILURE_THRESHOLD = Bound(1, 10_000, 5)
OPEN_MS = Bound(100, 3_600_000, 30_000)
KEEPALIVE_POOL = Bound(1, 10_000, 64)
MAX_BODY_BYTES = Bound(1, 1 << 40, 10 * 1024 * 1024)
MAX_HEADER_BYTES = Bound(1024, 1024 * 1024, 32 * 1024)
MAX_HEADERS = Bound(1, 10_000, 100)
MAX_URL_BYTES = Bound(256, 1024 * 1024, 8 * 1024)
PLUGIN_TIMEOUT_MS = Bound(1, 60_000, 200)
CACHE_TTL_MS_MAX = 86_400_000
MAX_RATE = 1e9
MAX_BURST = 1_000_000_000


class Errors(list[ConfigError]):
    """The errors of one compile pass, in the order found."""

    def add(self, path: str, message: str) -> None:
        self.append(ConfigError(path, message))


SIMILARITY = 0.7
"""How close (difflib ratio) a known name must be to be offered as "did you mean"."""


def closest(value: str, choices: Iterable[str]) -> str | None:
    """The choice closest to ``value`` when one is close enough."""
    close = difflib.get_close_matches(value, list(choices), n=1, cutoff=SIMILARITY)
    return close[0] if close else None


def suggestion(value: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` when a choice is close to ``value``, else ``""``."""
    close = closest(value, choices)
    return f" (did you mean {close!r}?)" if close else ""


def name_problem(
    name: str,
    what: str,
    section: str,
    seen: Mapping[str, int],
    *,
    article: str = "a",
    valid: Callable[[str], object] = NAME.fullmatch,
    rule: str = NAME_RULE,
) -> str | None:
    """Why ``name`` cannot name an entry of ``section`` (``what``: "upstream name", "route
    id"): missing, not ``valid`` (then ``rule``), or taken by an earlier entry (``seen``: name
    to index); ``None`` when it is fine."""
    if not name:
        return f"{article} {what} is required"
    if not valid(name):
        return rule
    if name in seen:
        return f"duplicate {what} {name!r} (also {section}[{seen[name]}])"
    return None


def one_of(
    value: str, choices: Collection[str], path: str, errors: Errors, *, default: str = ""
) -> str | None:
    """``value`` when it is one of ``choices`` (``""`` gives ``default`` when one exists)."""
    if not value and default:
        return default
    if value in choices:
        return value
    close = closest(value, choices) if value else None
    got = f"got {value!r}" if value else "got nothing"
    hint = f"; did you mean {close!r}?" if close else ""
    errors.add(path, f"must be one of {', '.join(choices)} ({got}{hint})")
    return None


def unknown(what: str, name: str, known: Collection[str], limit: int = 10) -> str:
    """``"unknown upstream 'userz' (known: orders, users; did you mean 'users'?)"``."""
    if not known:
        return f"unknown {what} {name!r} (none are defined)"
    ordered = sorted(set(known))
    more = f", ... ({len(ordered) - limit} more)" if len(ordered) > limit else ""
    close = closest(name, ordered)
    hint = f"; did you mean {close!r}?" if close else ""
    return f"unknown {what} {name!r} (known: {', '.join(ordered[:limit])}{more}{hint})"

"""basic-auth does the same work for an unknown user as for a known one with a wrong password.

No clock is read: the test counts the real PBKDF2 runs (``hashlib.pbkdf2_hmac``, called by
``verify_password`` in the handler's worker thread) and compares their parameters, which is
what the time taken depends on.
"""

from __future__ import annotations

import base64
import hashlib
import threading
from collections.abc import Callable
from typing import Any

import pytest

from edgeway.common.config.secrets import PBKDF2_ITERATIONS, derived_salt, hash_password
from edgeway.edge.policies.basic_auth.handler import dummy_hash
from tests.support.exchange import TestExchange, serve
from tests.unit.edge.policies.helpers import Clock, build, chain_of, gateway, services

Run = tuple[str, int, int, int]
"""One PBKDF2 run: hash name, iterations, salt length, password length."""


@pytest.fixture
def kdf_runs(monkeypatch: pytest.MonkeyPatch) -> list[Run]:
    """Every ``hashlib.pbkdf2_hmac`` call made while the test runs (from any thread)."""
    runs: list[Run] = []
    lock = threading.Lock()
    real: Callable[..., bytes] = hashlib.pbkdf2_hmac

    def counting(name: str, password: bytes, salt: bytes, iterations: int, *rest: Any) -> bytes:
        with lock:
            runs.append((name, iterations, len(salt), len(password)))
        return real(name, password, salt, iterations, *rest)

    monkeypatch.setattr(hashlib, "pbkdf2_hmac", counting)
    return runs


def pbkdf2_hash(password: str, iterations: int, salt: bytes) -> str:
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    encoded = (base64.b64encode(part).decode() for part in (salt, digest))
    return f"pbkdf2-sha256${iterations}${'$'.join(encoded)}"


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"authorization": f"Basic {token}"}


def consumers(*users: tuple[str, str]) -> list[dict[str, Any]]:
    return [{"name": f"c-{user}", "credentials": [
        {"type": "basic-auth", "username": user, "password_hash": stored}]}
        for user, stored in users]  # fmt: skip


async def refused(users: list[dict[str, Any]], headers: dict[str, str]) -> int:
    auth = build("basic-auth", compiled_config=gateway(consumers=users),
                 using=services(Clock()))  # fmt: skip
    response = await serve(chain_of(auth), TestExchange.of(headers))
    return response.status


async def test_an_unknown_user_runs_the_same_pbkdf2_as_a_wrong_password(
    kdf_runs: list[Run],
) -> None:
    users = consumers(("alice", hash_password("right", salt=derived_salt("c-alice", "alice"))))
    kdf_runs.clear()
    assert await refused(users, basic("alice", "wrong-pw")) == 401
    known = list(kdf_runs)
    kdf_runs.clear()
    assert await refused(users, basic("mallory", "wrong-pw")) == 401
    assert known == [("sha256", PBKDF2_ITERATIONS, 16, 8)]
    assert kdf_runs == known


async def test_the_dummy_hash_uses_the_iterations_most_configured_hashes_use(
    kdf_runs: list[Run],
) -> None:
    users = consumers(("a", pbkdf2_hash("x", 1000, b"a" * 16)),
                      ("b", pbkdf2_hash("x", 1000, b"b" * 16)),
                      ("c", pbkdf2_hash("x", 5000, b"c" * 16)))  # fmt: skip
    kdf_runs.clear()
    assert await refused(users, basic("a", "wrong")) == 401
    assert await refused(users, basic("nobody", "wrong")) == 401
    assert kdf_runs == [("sha256", 1000, 16, 5)] * 2


async def test_a_header_without_basic_credentials_runs_no_pbkdf2(kdf_runs: list[Run]) -> None:
    users = consumers(("alice", pbkdf2_hash("x", 1000, b"a" * 16)))
    kdf_runs.clear()
    assert await refused(users, {"authorization": "Bearer abc"}) == 401
    assert kdf_runs == []


def test_no_password_verifies_against_a_dummy_hash() -> None:
    stored = dummy_hash([pbkdf2_hash("x", 1000, b"s" * 16)])
    assert stored.startswith("pbkdf2-sha256$1000$")
    assert dummy_hash([]).startswith(f"pbkdf2-sha256${PBKDF2_ITERATIONS}$")
    assert dummy_hash([stored]) != stored  # random salt and digest: nothing to precompute

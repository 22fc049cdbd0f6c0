"""Chained authentication through a real edge process: the ``anonymous`` fallback of key-auth,
basic-auth and jwt (any one method admits, the rest fall back, acl refuses the guest), and
basic-auth answering an unknown user exactly like a wrong password."""

from __future__ import annotations

import base64
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest

from tests.policies.edge_helpers import call, error_code, sent_header
from tests.support.edge_process import StandaloneEdge
from tests.support.jwtkeys import rsa_pair, token
from tests.support.processes import free_port

SVC_SECRET = "svc-signing-secret-of-at-least-32-bytes"


def config(upstream: int) -> str:
    return f"""\
consumers:
  - name: guest
    groups: [guests]
    policies:
      - name: request-transform
        config: {{headers: {{add: {{x-tier: "free"}}}}}}
  - name: acme
    groups: [gold]
    credentials:
      - {{type: key-auth, key: "acme-key", id: "acme-key-1"}}
      - {{type: basic-auth, username: "acme", password: "acme-password"}}
  - name: svc
    credentials:
      - {{type: jwt, issuer: "svc-issuer", secret: "{SVC_SECRET}"}}
upstreams:
  - name: echo
    targets: [{{address: "127.0.0.1:{upstream}"}}]
routes:
  - id: open
    paths: ["/open"]
    upstream: echo
    policies:
      - name: key-auth
        config: {{anonymous: guest}}
  - id: members
    paths: ["/members"]
    upstream: echo
    policies:
      - name: key-auth
        config: {{anonymous: guest}}
      - name: basic-auth
        config: {{anonymous: guest}}
      - name: jwt
        config: {{anonymous: guest}}
      - name: acl
        config: {{deny: [guests]}}
  - id: both
    paths: ["/both"]
    upstream: echo
    policies:
      - name: key-auth
        config: {{anonymous: guest}}
      - name: basic-auth
  - id: scoped
    paths: ["/scoped"]
    upstream: echo
    policies:
      - name: jwt
        config: {{anonymous: guest, scopes: ["orders:read"]}}
  - id: idp-down
    paths: ["/idp-down"]
    upstream: echo
    policies:
      - name: jwt
        config: {{anonymous: guest, jwks_url: "http://127.0.0.1:{free_port()}/jwks",
                  jwks_timeout_ms: 200}}
"""


@pytest.fixture(scope="module")
def edge(echo_port: int, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StandaloneEdge]:
    running = StandaloneEdge(config(echo_port), tmp_path_factory.mktemp("chaining"))
    running.start()
    yield running
    running.stop()


def basic(user: str, password: str) -> tuple[str, str]:
    return "authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def svc_token(**claims: str) -> tuple[str, str]:
    signed = jwt.encode({"iss": "svc-issuer", "exp": int(time.time()) + 60, **claims},
                        SVC_SECRET, algorithm="HS256")  # fmt: skip
    return "authorization", f"Bearer {signed}"


# -- one policy with a fallback -------------------------------------------------------------------


async def test_a_caller_without_a_key_goes_on_as_the_anonymous_consumer(
    edge: StandaloneEdge,
) -> None:
    response = await call(edge.port, "/open", headers=[("x-consumer-name", "acme"),
                                                       ("x-credential-id", "forged")])
    assert sent_header(response, "x-consumer-name") == "guest"
    assert sent_header(response, "x-anonymous-consumer") == "true"
    assert sent_header(response, "x-credential-id") is None
    assert sent_header(response, "x-tier") == "free"  # the anonymous consumer's own policies


async def test_a_wrong_key_also_goes_on_as_the_anonymous_consumer(edge: StandaloneEdge) -> None:
    response = await call(edge.port, "/open", headers=[("apikey", "not-a-key")])
    assert sent_header(response, "x-consumer-name") == "guest"
    assert sent_header(response, "apikey") is None


async def test_a_valid_key_names_its_consumer_and_no_anonymous_header_reaches_the_upstream(
    edge: StandaloneEdge,
) -> None:
    response = await call(edge.port, "/open", headers=[("apikey", "acme-key"),
                                                       ("x-anonymous-consumer", "true")])
    assert sent_header(response, "x-consumer-name") == "acme"
    assert sent_header(response, "x-credential-id") == "acme-key-1"
    assert sent_header(response, "x-anonymous-consumer") is None
    assert sent_header(response, "x-tier") is None


# -- alternatives: every authentication policy of the route falls back --------------------------


async def test_any_one_of_the_chained_methods_admits_its_caller(edge: StandaloneEdge) -> None:
    by_key = await call(edge.port, "/members", headers=[("apikey", "acme-key")])
    assert sent_header(by_key, "x-consumer-name") == "acme"
    by_token = await call(edge.port, "/members", headers=[svc_token()])
    assert sent_header(by_token, "x-consumer-name") == "svc"


async def test_a_later_policy_replaces_the_anonymous_consumer_with_the_one_it_verified(
    edge: StandaloneEdge,
) -> None:
    # jwt (read first) takes "Basic ..." for a malformed token and key-auth finds no key:
    # both fall back to guest; basic-auth, which runs last, verifies acme.
    response = await call(edge.port, "/members", headers=[basic("acme", "acme-password")])
    assert sent_header(response, "x-consumer-name") == "acme"
    assert sent_header(response, "x-anonymous-consumer") is None
    assert sent_header(response, "authorization") is None


async def test_acl_refuses_the_anonymous_consumers_group(edge: StandaloneEdge) -> None:
    nothing = await call(edge.port, "/members")
    assert (nothing.status, error_code(nothing)) == (403, "forbidden")
    wrong_password = await call(edge.port, "/members", headers=[basic("acme", "guess")])
    assert (wrong_password.status, error_code(wrong_password)) == (403, "forbidden")


async def test_a_policy_without_anonymous_still_demands_its_own_credential(
    edge: StandaloneEdge,
) -> None:
    key_only = await call(edge.port, "/both", headers=[("apikey", "acme-key")])
    assert (key_only.status, error_code(key_only)) == (401, "missing_credentials")
    assert key_only.header("www-authenticate") == 'Basic realm="edgeway"'
    password_only = await call(edge.port, "/both", headers=[basic("acme", "acme-password")])
    assert sent_header(password_only, "x-consumer-name") == "acme"


async def test_jwt_answers_a_missing_scope_and_an_unreachable_idp_even_with_anonymous(
    edge: StandaloneEdge,
) -> None:
    unscoped = await call(edge.port, "/scoped", headers=[svc_token(scope="orders:write")])
    assert (unscoped.status, error_code(unscoped)) == (403, "insufficient_scope")
    scoped = await call(edge.port, "/scoped", headers=[svc_token(scope="orders:read")])
    assert sent_header(scoped, "x-consumer-name") == "svc"
    no_token = await call(edge.port, "/scoped")
    assert sent_header(no_token, "x-consumer-name") == "guest"
    signed = token(rsa_pair(), iss="https://idp.test/")
    down = await call(edge.port, "/idp-down", headers=[("authorization", f"Bearer {signed}")])
    assert (down.status, error_code(down)) == (503, "jwks_unavailable")
    assert sent_header(await call(edge.port, "/idp-down"), "x-consumer-name") == "guest"


def test_an_anonymous_name_that_is_no_consumer_is_refused_at_apply_time(tmp_path: Path) -> None:
    config = tmp_path / "misnamed.yaml"
    config.write_text(MISNAMED)
    edgeway = Path(sys.executable).parent / "edgeway"
    done = subprocess.run([str(edgeway), "validate", "-f", str(config)], capture_output=True,
                          text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 1
    assert "routes[0].policies[0].config.anonymous: names no configured consumer" in done.stderr


MISNAMED = """\
consumers:
  - name: guest
upstreams:
  - name: echo
    targets: [{address: "127.0.0.1:9"}]
routes:
  - id: misnamed
    paths: ["/misnamed"]
    upstream: echo
    policies:
      - name: key-auth
        config: {anonymous: nobody}
"""


# -- basic-auth: no user enumeration ------------------------------------------------------------


async def test_basic_auth_answers_an_unknown_user_exactly_like_a_wrong_password(
    edge: StandaloneEdge,
) -> None:
    wrong = await call(edge.port, "/both", headers=[basic("acme", "guess")])
    unknown = await call(edge.port, "/both", headers=[basic("mallory", "guess")])
    assert (wrong.status, error_code(wrong)) == (401, "invalid_credentials")
    assert (unknown.status, unknown.body) == (wrong.status, wrong.body)
    assert unknown.header("www-authenticate") == wrong.header("www-authenticate")

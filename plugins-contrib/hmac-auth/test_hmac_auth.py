"""hmac-auth: signed requests pass, every broken part is refused, replays are caught."""

from __future__ import annotations

from email.utils import formatdate
from pathlib import Path

from hmac_auth import BAD_DIGEST, BAD_SIGNATURE, REPLAYED, SKEWED, UNKNOWN_KEY, HmacAuth, sign

from edgeway.sdk.testing import PluginProcess, connect, harness

SECRET = "0123456789abcdef-secret"
CONFIG = {"keys": [{"id": "app-1", "secret": SECRET}], "clock_skew_s": 60}


async def test_a_signed_request_goes_on_with_the_key_id_and_without_credentials() -> None:
    body = b'{"amount": 5}'
    headers = sign("app-1", SECRET, "POST", "/pay", body)
    result = await harness(HmacAuth(), config=CONFIG).request(
        method="POST", path="/pay", headers=headers, body=body)
    assert result.proceeded
    assert result.set_headers == {"x-hmac-key-id": "app-1"}
    assert result.context == {"hmac.key_id": "app-1"}
    assert result.removed_headers == ["authorization"]


async def test_each_broken_part_is_refused_with_its_reason() -> None:
    plugin = harness(HmacAuth(), config=CONFIG)
    good = sign("app-1", SECRET, "POST", "/pay", b"body")
    cases = {
        UNKNOWN_KEY: (sign("app-2", SECRET, "POST", "/pay", b"body"), b"body", "/pay"),
        BAD_SIGNATURE: (sign("app-1", SECRET + "x", "POST", "/pay", b"body"), b"body", "/pay"),
        BAD_DIGEST: (good, b"tampered", "/pay"),
        SKEWED: (sign("app-1", SECRET, "POST", "/pay", b"body",
                      date=formatdate(1_000_000_000, usegmt=True)), b"body", "/pay"),
    }
    for message, (headers, body, path) in cases.items():
        result = await plugin.request(method="POST", path=path, headers=headers, body=body)
        assert result.status == 401, message
        assert result.json()["message"] == message
    moved = await plugin.request(method="POST", path="/other", headers=good, body=b"body")
    assert moved.json()["message"] == BAD_SIGNATURE


async def test_a_replayed_signature_is_refused() -> None:
    plugin = harness(HmacAuth(), config=CONFIG)
    headers = sign("app-1", SECRET, "GET", "/")
    assert (await plugin.request(headers=headers)).proceeded
    again = await plugin.request(headers=headers)
    assert again.status == 401
    assert again.json()["message"] == REPLAYED


async def test_config_errors_name_their_fields() -> None:
    errors = await harness(HmacAuth()).validate(
        {"keys": [{"id": "a", "secret": "short"}], "clock_skew_s": 0})
    assert {path for path, _ in errors} == {"keys[0].secret", "clock_skew_s"}
    duplicate = await harness(HmacAuth()).validate(
        {"keys": [{"id": "a", "secret": SECRET}, {"id": "a", "secret": SECRET}]})
    assert duplicate
    assert "duplicate key id" in duplicate[0][1]


async def test_the_service_runs_as_a_process() -> None:
    with PluginProcess(Path(__file__).with_name("hmac_auth.py")) as process:
        async with connect(process.address, config=CONFIG) as remote:
            assert (await remote.describe()).request_body.max_bytes == 1024 * 1024
            signed = await remote.request(headers=sign("app-1", SECRET, "GET", "/x"), path="/x")
            assert signed.proceeded
            assert (await remote.request(path="/x")).status == 401
    assert process.returncode == 0

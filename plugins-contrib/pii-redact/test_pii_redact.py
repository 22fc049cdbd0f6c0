"""pii-redact: e-mails, Luhn-valid card numbers and configured fields are masked."""

from __future__ import annotations

import json
from pathlib import Path

from pii_redact import TRUNCATED, PiiRedact, luhn_valid

from edgeway.sdk.testing import PluginProcess, connect, harness

JSON = {"content-type": "application/json"}


def test_luhn() -> None:
    assert luhn_valid("4111111111111111")
    assert not luhn_valid("4111111111111112")


async def test_emails_cards_and_fields_are_masked_in_json() -> None:
    body = json.dumps({"user": {"email": "ann@example.com", "ssn": "123-45-6789",
                                "note": "card 4111 1111 1111 1111, order 1234567890123"}})
    result = await harness(PiiRedact(), config={"fields": ["SSN"]}).response(
        headers=JSON, body=body)
    user = result.json()["user"]
    assert user == {"email": "[redacted]", "ssn": "[redacted]",
                    "note": "card **** **** **** 1111, order 1234567890123"}


async def test_text_bodies_are_masked_and_clean_bodies_untouched() -> None:
    plugin = harness(PiiRedact())
    text = await plugin.response(headers={"content-type": "text/plain"},
                                 body="mail bob@corp.io now")
    assert text.body == b"mail [redacted] now"
    clean = await plugin.response(headers=JSON, body='{"a": 1}')
    assert not clean.changed
    image = await plugin.response(headers={"content-type": "image/png"}, body="x@y.io")
    assert not image.changed


async def test_a_body_too_large_to_check_is_blocked_unless_configured_to_pass() -> None:
    blocked = await harness(PiiRedact()).response(headers=JSON, body="{", body_truncated=True)
    assert (blocked.status, blocked.json()["message"]) == (502, TRUNCATED)
    passed = await harness(PiiRedact(), config={"on_truncated": "pass"}).response(
        headers=JSON, body="{", body_truncated=True)
    assert not passed.changed


async def test_config_errors_name_their_fields() -> None:
    errors = await harness(PiiRedact()).validate({"on_truncated": "drop", "fields": "ssn"})
    assert {path for path, _ in errors} == {"on_truncated", "fields"}


async def test_the_service_runs_as_a_process() -> None:
    with PluginProcess(Path(__file__).with_name("pii_redact.py")) as process:
        async with connect(process.address) as remote:
            assert (await remote.describe()).response_body.max_bytes == 1024 * 1024
            result = await remote.response(headers=JSON, body='{"to": "x@example.org"}')
            assert result.json() == {"to": "[redacted]"}
    assert process.returncode == 0

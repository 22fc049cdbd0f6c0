"""pii-redact: mask personal data in response bodies before they leave the gateway.

It masks e-mail addresses, card numbers (13 to 19 digits, spaces or dashes allowed, only when
the Luhn check passes, keeping the last four digits) and the values of configured JSON fields
(at any depth, names compared case-insensitively) in responses whose content type is listed.
A body larger than the plugin reads (1 MiB) cannot be checked: by default such a response is
replaced by a 502 (``on_truncated: block``), or passed as it is (``pass``).

Run: ``python plugins-contrib/pii-redact/pii_redact.py --listen 127.0.0.1:50063``.
"""

from __future__ import annotations

import argparse
import json
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from edgeway.sdk import Plugin, ResponseView, serve

__all__ = ["PiiConfig", "PiiRedact", "luhn_valid", "redact_text"]

TRUNCATED = "the response body is too large to check for personal data"

EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")


class PiiConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    emails: bool = Field(True, description="Mask e-mail addresses.")
    cards: bool = Field(True, description="Mask card numbers that pass the Luhn check.")
    fields: list[str] = Field(default_factory=list, description="JSON fields whose values "
                              "are replaced by `mask`, at any depth.")
    mask: str = Field("[redacted]", max_length=64, description="Replacement for e-mails "
                      "and field values.")
    content_types: list[str] = Field(default_factory=lambda: ["application/json", "text/"],
                                     description="Content-type prefixes to inspect.")
    on_truncated: Literal["block", "pass"] = Field("block", description="What to do with a "
                                                   "body too large to inspect.")


def luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _mask_card(match: re.Match[str]) -> str:
    text = match.group(0)
    digits = [c for c in text if c.isdigit()]
    if not luhn_valid("".join(digits)):
        return text
    keep = len(digits) - 4
    out, seen = [], 0
    for char in text:
        if char.isdigit():
            out.append("*" if seen < keep else char)
            seen += 1
        else:
            out.append(char)
    return "".join(out)


def redact_text(text: str, config: PiiConfig) -> str:
    if config.emails:
        text = EMAIL.sub(config.mask, text)
    if config.cards:
        text = CARD.sub(_mask_card, text)
    return text


def _redact_json(value: Any, config: PiiConfig, fields: frozenset[str]) -> Any:
    if isinstance(value, dict):
        return {key: config.mask if key.lower() in fields else
                _redact_json(item, config, fields) for key, item in value.items()}
    if isinstance(value, list):
        return [_redact_json(item, config, fields) for item in value]
    if isinstance(value, str):
        return redact_text(value, config)
    return value


class PiiRedact(Plugin[PiiConfig]):
    name = "pii-redact"
    version = "1.0.0"
    response_body = 1024 * 1024

    async def on_response(self, response: ResponseView, config: PiiConfig) -> None:
        content_type = (response.header("content-type") or "").lower()
        if not any(content_type.startswith(prefix) for prefix in config.content_types):
            return
        if response.body_truncated:
            if config.on_truncated == "block":
                response.set_status(502)
                response.set_json({"code": "pii_redact_unchecked", "message": TRUNCATED})
            return
        if not response.body:
            return
        text = response.body.decode("utf-8", errors="replace")
        redacted: str
        if "json" in content_type:
            try:
                data = json.loads(text)
            except ValueError:
                redacted = redact_text(text, config)
            else:
                fields = frozenset(f.lower() for f in config.fields)
                redacted = json.dumps(_redact_json(data, config, fields), separators=(",", ":"))
                if json.loads(redacted) == data:
                    return  # nothing to mask: leave the body byte for byte
        else:
            redacted = redact_text(text, config)
        if redacted != text:
            response.set_body(redacted)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="pii-redact plugin service")
    parser.add_argument("--listen", default="127.0.0.1:50063", help="host:port to serve on")
    serve(PiiRedact(), parser.parse_args().listen)

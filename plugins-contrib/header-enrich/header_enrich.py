"""header-enrich: add headers and context values looked up from the caller (consumer).

A table keyed by consumer name gives each consumer's headers (``x-tenant: acme``) and context
values (``plan: gold``); ``default`` covers consumers not in the table, and ``from_tags`` copies
consumer tags into headers. Context values travel with the request: later plugins see them,
the edge logs them and passes them to the upstream. The verdict depends only on the consumer,
so the plugin declares that as its cache key: with ``cache_ttl_ms`` the edge calls it once per
consumer and TTL.

Run: ``python plugins-contrib/header-enrich/header_enrich.py --listen 127.0.0.1:50064``.
"""

from __future__ import annotations

import argparse
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from edgeway.sdk import CacheKey, Plugin, Request, Response, serve

__all__ = ["EnrichConfig", "Enrichment", "HeaderEnrich"]

ANONYMOUS = "this route needs an authenticated consumer"
_HEADER = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_BAD_VALUE = re.compile(r"[\r\n\x00]")


def _check_headers(value: dict[str, str]) -> dict[str, str]:
    for name, text in value.items():
        if not _HEADER.fullmatch(name):
            raise ValueError(f"{name!r} is not a valid header name")
        if _BAD_VALUE.search(text):
            raise ValueError(f"the value of {name!r} holds CR, LF or NUL")
    return {name.lower(): text for name, text in value.items()}


class Enrichment(BaseModel):
    model_config = ConfigDict(extra="forbid")
    headers: dict[str, str] = Field(default_factory=dict, description="Headers to set.")
    context: dict[str, str] = Field(default_factory=dict, description="Context values to set.")

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        return _check_headers(value)


class EnrichConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    table: dict[str, Enrichment] = Field(default_factory=dict,
                                         description="Consumer name -> what to add.")
    default: Enrichment | None = Field(None, description="For consumers not in the table.")
    from_tags: dict[str, str] = Field(default_factory=dict,
                                      description="Consumer tag -> header name.")
    anonymous: Literal["skip", "reject"] = Field("skip", description="Requests without a "
                                                 "consumer go on unchanged, or get a 401.")

    @field_validator("from_tags")
    @classmethod
    def _tag_headers(cls, value: dict[str, str]) -> dict[str, str]:
        for tag, header in value.items():
            if not _HEADER.fullmatch(header):
                raise ValueError(f"tag {tag!r}: {header!r} is not a valid header name")
        return value


class HeaderEnrich(Plugin[EnrichConfig]):
    name = "header-enrich"
    version = "1.0.0"
    cache_key = CacheKey(consumer=True)

    async def on_request(self, request: Request, config: EnrichConfig) -> Response | None:
        consumer = request.consumer
        if consumer is None:
            if config.anonymous == "reject":
                return Response(401, json={"code": "consumer_required", "message": ANONYMOUS})
            return None
        entry = config.table.get(consumer.name, config.default)
        if entry is not None:
            for name, value in entry.headers.items():
                request.set_header(name, value)
            for key, value in entry.context.items():
                request.set_context(key, value)
        for tag, header in config.from_tags.items():
            if tag in consumer.tags:
                request.set_header(header, consumer.tags[tag])
        return None


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="header-enrich plugin service")
    parser.add_argument("--listen", default="127.0.0.1:50064", help="host:port to serve on")
    serve(HeaderEnrich(), parser.parse_args().listen)

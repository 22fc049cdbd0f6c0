"""A test plugin built with the SDK, run as a real process by the plugin-client tests.

``python tests/plugins/echo_plugin.py --listen 127.0.0.1:PORT``. Request headers steer it:
``x-answer: 418`` answers directly, ``x-sleep-ms: 500`` sleeps first, ``x-raise: 1`` fails,
``x-raise-response: 1`` fails ``on_response``, ``x-barrier: 1`` waits until two such calls
are in flight together (else answers 409 after 0.5 s: proof that the edge called two plugins
at once);
otherwise it echoes what it saw as mutations (``x-echo-id``, ``x-seen-method``, body length,
context, query and path changes). A request to ``/__calls`` answers how many ``on_request``
calls it has had (for cache tests). ``on_response`` stamps the status and redacts ``secret``
in bodies; ``on_log`` appends one JSON line per entry to ``config.log_file``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from edgeway.sdk import CacheKey, LogEntry, Plugin, Request, Response, ResponseView, serve


class Limit(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max: int = Field(default=10, gt=0, description="Largest allowed value.")


class EchoConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tag: str = "echo"
    limits: list[Limit] = Field(default_factory=list)
    log_file: str = ""


class Echo(Plugin[EchoConfig]):
    name = "echo"
    version = "0.1.0"
    request_body = 64
    response_body = 1024
    cache_key = CacheKey(headers=["authorization"])

    def __init__(self) -> None:
        self.calls = 0
        self.waiting = 0
        self.gate = asyncio.Event()

    async def barrier(self) -> Response | None:
        self.waiting += 1
        if self.waiting >= 2:
            self.gate.set()
        try:
            await asyncio.wait_for(self.gate.wait(), 0.5)
        except TimeoutError:
            return Response(409, json={"error": "called alone"})
        finally:
            self.waiting -= 1
            if not self.waiting:
                self.gate.clear()
        return None

    async def on_request(self, request: Request, config: EchoConfig) -> Response | None:
        if request.path == "/__calls":
            return Response(200, json={"calls": self.calls})
        self.calls += 1
        sleep_ms = request.header("x-sleep-ms")
        if sleep_ms:
            await asyncio.sleep(int(sleep_ms) / 1000)
        if request.header("x-barrier"):
            alone = await self.barrier()
            if alone is not None:
                return alone
        if request.header("x-raise"):
            raise RuntimeError("asked to fail")
        answer = request.header("x-answer")
        if answer:
            return Response(int(answer), json={"answered": config.tag},
                            headers={"x-answered-by": "echo"})
        request.set_header("x-echo-id", request.header("x-id", "") or "")
        request.set_header("x-seen-method", request.method)
        request.set_header("x-body-length", str(len(request.body)))
        request.set_header("x-body-truncated", str(request.body_truncated).lower())
        request.set_header("x-tag", config.tag)
        request.set_header("x-seen-stage", request.stage)
        request.set_header("x-seen-variables", json.dumps(dict(request.variables), sort_keys=True))
        request.set_header("x-seen-route", f"{request.route_id} {dict(request.params)}")
        request.remove_header("x-remove-me")
        request.set_query("echoed", "1")
        request.remove_query("drop")
        request.set_context("echo.consumer", request.consumer.name if request.consumer else "")
        if request.path.startswith("/rewrite"):
            request.set_path("/rewritten")
        if request.header("x-new-body"):
            request.set_body(b"new body")
        return None

    async def on_response(self, response: ResponseView, config: EchoConfig) -> None:
        if response.request.header("x-raise-response"):
            raise RuntimeError("asked to fail the response")
        response.set_header("x-upstream-status", str(response.status))
        if b"secret" in response.body:
            response.set_body(response.body.replace(b"secret", b"******"))
        if response.status == 500:
            response.set_status(502)

    async def on_log(self, entries: Sequence[LogEntry], config: EchoConfig) -> None:
        if not config.log_file:
            return
        lines = [json.dumps({"id": e.request.id, "status": e.status,
                             "failures": list(e.plugin_failures), "batch": len(entries)})
                 for e in entries]
        with open(config.log_file, "a") as out:  # noqa: ASYNC230 - a test plugin, tiny writes
            out.write("".join(line + "\n" for line in lines))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--listen", default="127.0.0.1:50051")
    serve(Echo(), parser.parse_args().listen, grace=1.0)

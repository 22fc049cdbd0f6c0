"""A no-op plugin for bench/plugin_roundtrip.py: ``on_request`` returns at once.

``python bench/noop_plugin.py --listen 127.0.0.1:PORT``; it declares a cache key on
``authorization`` so the benchmark can also measure verdict-cache hits.
"""

from __future__ import annotations

import argparse

from edgeway.sdk import CacheKey, Plugin, Request, Response, serve


class Noop(Plugin[dict[str, object]]):
    name = "noop"
    version = "1.0.0"
    cache_key = CacheKey(headers=["authorization"])

    async def on_request(self, request: Request, config: dict[str, object]) -> Response | None:
        return None


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--listen", default="127.0.0.1:50070")
    serve(Noop(), parser.parse_args().listen, log_level="warning")

"""A control-plane replica serving only ConfigDiscovery, in its own process, for crash tests.

``python -m tests.discovery.replica_main ETCD PREFIX LEASE_TTL`` prints ``PORT <n>`` once it
serves, then runs until killed.
"""

from __future__ import annotations

import asyncio
import sys

from edgeway.common.logging import configure_logging
from edgeway.controlplane.discovery import DiscoverySettings, serve_discovery
from edgeway.controlplane.store import EtcdStore


async def main(etcd: str, prefix: str, ttl: int) -> None:
    store = await EtcdStore.connect([etcd], prefix=prefix)
    settings = DiscoverySettings(lease_ttl=ttl, debounce=0.05, max_delay=0.5)
    async with serve_discovery(store, listen=("127.0.0.1", 0), settings=settings) as server:
        print(f"PORT {server.port}", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    configure_logging("info", "json")  # to stderr: stdout carries the PORT line
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))

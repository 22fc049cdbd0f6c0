"""No request fails while the edge swaps its config 20 times under concurrent load."""

from __future__ import annotations

import http.client
import threading
import time
from collections import Counter
from pathlib import Path

from tests.e2e.conftest import Upstreams, apply_and_deploy, config
from tests.support.controlplane import ControlPlane
from tests.support.fleet import start_edge

CLIENTS = 8
SWAPS = 20
MAX_SECONDS = 60.0


def load(port: int, stop: threading.Event, statuses: Counter[int], lock: threading.Lock) -> None:
    """One keep-alive client alternating a proxied and a mock route until ``stop``."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    paths = ("/users", "/status")
    i = 0
    deadline = time.monotonic() + MAX_SECONDS
    while not stop.is_set() and time.monotonic() < deadline:
        try:
            connection.request("GET", paths[i % 2])
            response = connection.getresponse()
            response.read()
            status = response.status
        except (OSError, http.client.HTTPException):
            status = -1  # a connection error counts as a failed request
            connection.close()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        with lock:
            statuses[status] += 1
        i += 1
    connection.close()


def test_twenty_swaps_under_load_fail_no_request(cp: ControlPlane, upstreams: Upstreams,
                                                 folder: Path) -> None:
    edge = start_edge([cp.grpc], "swaps", folder)
    try:
        first = apply_and_deploy(cp, config(upstreams.blue, mock_body="swap-0"), "swaps")
        edge.wait_version(first)
        port = int(edge.url.rsplit(":", 1)[1])
        stop, lock = threading.Event(), threading.Lock()
        statuses: Counter[int] = Counter()
        clients = [threading.Thread(target=load, args=(port, stop, statuses, lock))
                   for _ in range(CLIENTS)]
        for client in clients:
            client.start()
        last = first
        for i in range(1, SWAPS + 1):
            target = upstreams.green if i % 2 else upstreams.blue
            last = apply_and_deploy(cp, config(target, mock_body=f"swap-{i}"), "swaps")
            edge.wait_version(last)
        stop.set()
        for client in clients:
            client.join()
        total = sum(statuses.values())
        failed = total - statuses[200]
        print(f"\n{total} requests during {SWAPS} swaps; non-2xx: {failed}; {dict(statuses)}")
        assert total > SWAPS * CLIENTS
        assert failed == 0, dict(statuses)
        assert edge.get("/status").body == f"swap-{SWAPS}"
        assert last - first == SWAPS
    finally:
        edge.stop()

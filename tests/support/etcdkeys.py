"""Read every key under a prefix straight from etcd with ``etcdctl`` (for "nothing changed")."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

ETCDCTL = str(Path(sys.executable).parent / "etcdctl")


def snapshot(endpoint: str, prefix: str) -> dict[bytes, bytes]:
    """All keys and values under ``prefix``."""
    out = subprocess.run([ETCDCTL, f"--endpoints={endpoint}", "get", prefix, "--prefix",
                          "-w", "json"], capture_output=True, check=True, timeout=30).stdout
    kvs = json.loads(out).get("kvs", [])
    return {base64.b64decode(kv["key"]): base64.b64decode(kv.get("value", "")) for kv in kvs}

"""The SDK is its own surface: importing it never loads the gateway's packages."""

from __future__ import annotations

import subprocess
import sys

import edgeway.sdk


def test_the_sdk_does_not_import_the_gateway() -> None:
    probe = ("import sys, edgeway.sdk, edgeway.sdk.testing; "
             "print(sorted(m for m in sys.modules if m.startswith("
             "('edgeway.edge', 'edgeway.controlplane', 'edgeway.common'))))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            check=True, timeout=60)
    assert result.stdout.strip() == "[]"


def test_the_sdk_exports_what_an_author_needs() -> None:
    assert sorted(edgeway.sdk.__all__) == [
        "CacheKey", "ConfigRejected", "Consumer", "LogEntry", "Plugin", "Request", "Response",
        "ResponseView", "serve", "serve_async"]

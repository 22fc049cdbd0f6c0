"""The plugin in docs/plugins.md (the issue's example) is a complete, working service as
written: run it as a process (only its port changed) and call it over gRPC."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from edgeway.sdk.testing import PluginProcess, connect, free_port

DOC = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"


def example() -> str:
    blocks: list[str] = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.DOTALL)
    return next(block for block in blocks if "serve(Stamp()" in block)


async def test_the_documented_plugin_serves_as_written(tmp_path: Path) -> None:
    port = free_port()
    script = tmp_path / "stamp.py"
    script.write_text(example().replace("127.0.0.1:50051", f"127.0.0.1:{port}"))
    with PluginProcess(script, port=port) as process:
        async with connect(process.address, config={"header": "x-stamp"}) as remote:
            blocked = await remote.request(headers={"x-block": "1"})
            assert (blocked.status, blocked.json()) == (403, {"error": "blocked"})
            stamped = await remote.request()
            assert stamped.set_headers == {"x-stamp": "stamped"}
            assert await remote.validate({"header": 5}) == [
                ("header", "Input should be a valid string")]
    assert process.returncode == 0


def test_the_documented_harness_test_passes() -> None:
    namespace: dict[str, object] = {}
    exec(example().replace('if __name__ == "__main__":', "if False:"), namespace)
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.DOTALL)
    test = next(block for block in blocks if "harness(Stamp())" in block)
    exec(test, namespace)
    test_blocks = namespace["test_blocks"]
    assert callable(test_blocks)
    asyncio.run(test_blocks())

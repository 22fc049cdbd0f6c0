"""`edgeway dev` (the README's run command after bootstrap) starts a working stack and stops."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

from tests.support.http import call
from tests.support.processes import EDGEWAY, free_port
from tests.support.wait import wait_until


def test_the_dev_stack_serves_the_example_through_the_edge_and_stops_on_ctrl_c(
        tmp_path: Path) -> None:
    ports = {name: free_port() for name in ("edge", "edge_admin", "admin", "grpc", "demo")}
    example = (Path(__file__).resolve().parents[2] / "deploy" / "examples" / "gateway.yaml")
    (tmp_path / "gateway.yaml").write_text(
        example.read_text().replace("127.0.0.1:8001", f"127.0.0.1:{ports['demo']}"))
    log = tmp_path / "dev.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [EDGEWAY, "dev", "--data-dir", str(tmp_path / "data"),
             "--edge-listen", f"127.0.0.1:{ports['edge']}",
             "--edge-admin-listen", f"127.0.0.1:{ports['edge_admin']}",
             "--admin-listen", f"127.0.0.1:{ports['admin']}",
             "--grpc-listen", f"127.0.0.1:{ports['grpc']}",
             "--demo-listen", f"127.0.0.1:{ports['demo']}",
             "--config", str(tmp_path / "gateway.yaml")],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        edge = f"http://127.0.0.1:{ports['edge']}"

        def ready() -> bool:
            if process.poll() is not None:
                raise AssertionError(log.read_text())
            try:
                return call("GET", f"http://127.0.0.1:{ports['edge_admin']}/readyz",
                            timeout=1).status == 200
            except OSError:
                return False

        wait_until(ready, timeout=30, what="dev edge ready")
        users = call("GET", f"{edge}/users")
        assert users.status == 200
        assert users.body["served_by"] == "demo-upstream"
        assert call("GET", f"{edge}/status").body == {"healthy": True, "service": "edgeway-demo"}
        stages = call("GET", f"http://127.0.0.1:{ports['admin']}/v1/stages").body["stages"]
        assert [(s["name"], s["version"]) for s in stages] == [("dev", 1)]
        output = log.read_text()
        assert f"edge (stage dev) {edge}" in output
    finally:
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=30)
    assert code == 0, log.read_text()[-3000:]
    assert "stopping the dev stack" in log.read_text()

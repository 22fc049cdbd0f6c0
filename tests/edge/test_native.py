"""The compiled data path (edge/native.py): the test command runs the edge compiled, a stale or
switched-off build falls back to the pure-Python modules, and the edge serves either way."""

from __future__ import annotations

import importlib
import importlib.machinery
import os
import subprocess
import sys
from pathlib import Path

import pytest

from edgeway.edge import native
from tests.edge.client import fetch
from tests.support.edge_process import StandaloneEdge

SUFFIX = importlib.machinery.EXTENSION_SUFFIXES[0]


def tree(root: Path) -> Path:
    """A small ``edge/`` tree with the parts the build compiles."""
    edge = root / "edge"
    for part in native.PARTS:
        path = edge / part
        if path.suffix == ".py":
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("X = 1\n")
        else:
            path.mkdir(parents=True)
            (path / "__init__.py").write_text("")
            (path / "hot.py").write_text("Y = 2\n")
    (edge / "proxy" / "errors.py").write_text("class E(Exception): ...\n")
    return edge


def test_sources_are_the_hot_modules_without_package_inits_or_skipped_ones(
    tmp_path: Path,
) -> None:
    edge = tree(tmp_path)
    names = [path.relative_to(edge).as_posix() for path in native.sources(edge)]
    assert "proxy/hot.py" in names
    assert "accesslog.py" in names
    assert "proxy/__init__.py" not in names
    assert "proxy/errors.py" not in names
    assert native.module_name(edge / "proxy" / "hot.py", edge) == "edgeway.edge.proxy.hot"


def test_status_follows_the_build_and_its_sources(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("EDGEWAY_NATIVE", raising=False)
    edge = tree(tmp_path)
    assert native.status(edge) == "pure"  # no build
    (edge / f"_native__mypyc{SUFFIX}").write_bytes(b"")
    assert native.status(edge) == "stale"  # a build without a stamp
    (edge / native.STAMP.name).write_text(native.digest(edge) + "\n")
    assert native.status(edge) == "compiled"
    monkeypatch.setenv("EDGEWAY_NATIVE", "0")
    assert native.status(edge) == "off"
    monkeypatch.delenv("EDGEWAY_NATIVE")
    (edge / "routing" / "hot.py").write_text("Y = 3\n")  # a source changed after the build
    assert native.status(edge) == "stale"
    (edge / "proxy" / "errors.py").write_text("class F(Exception): ...\n")  # not compiled
    (edge / "routing" / "hot.py").write_text("Y = 2\n")
    assert native.status(edge) == "compiled"


def test_the_test_command_runs_the_compiled_data_path() -> None:
    """tests/run.sh builds it (deploy/bootstrap.sh): a missing compiler fails there, loudly."""
    expected = "off" if os.environ.get("EDGEWAY_NATIVE") == "0" else "compiled"
    assert native.status() == expected
    client = importlib.import_module("edgeway.edge.proxy.client")
    assert str(client.__file__).endswith(SUFFIX if expected == "compiled" else ".py")


def test_switched_off_the_modules_load_from_their_sources() -> None:
    code = ("import edgeway.edge.proxy.client as c, edgeway.edge.routing.router as r; "
            "print(c.__file__); print(r.__file__)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "EDGEWAY_NATIVE": "0"}, check=True, timeout=60)
    files = done.stdout.split()
    assert len(files) == 2
    assert all(file.endswith(".py") for file in files), files


async def test_the_pure_python_edge_serves_the_same(upstream: int, tmp_path: Path) -> None:
    config = f"""\
upstreams:
  - name: echo
    targets: [{{address: "127.0.0.1:{upstream}"}}]
routes:
  - id: items
    paths: ["/items/{{id:int}}"]
    upstream: echo
"""
    edge = StandaloneEdge(config, tmp_path, env={"EDGEWAY_NATIVE": "0"})
    port = edge.start()
    try:
        served = await fetch(port, "GET", "/items/7")
        missing = await fetch(port, "GET", "/items/seven")
    finally:
        edge.stop()
    assert served.status == 200
    assert missing.status == 404

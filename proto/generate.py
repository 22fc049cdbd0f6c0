"""Regenerate the Python modules of the wire contracts (``python proto/generate.py``).

Runs the pinned grpcio-tools protoc with mypy-protobuf's plugins over
``proto/edgeway/v1/*.proto`` and writes ``*_pb2.py``, ``*_pb2_grpc.py`` and their ``.pyi``
stubs beside the sources, importable as ``edgeway.v1``. ``--check`` generates into a temporary
folder instead and exits 1, naming the files, when the committed ones are stale.
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import sys
import sysconfig
import tempfile
from pathlib import Path

from grpc_tools import protoc

PROTO_ROOT = Path(__file__).resolve().parent
PACKAGE_DIR = PROTO_ROOT / "edgeway" / "v1"
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py", "_pb2_grpc.pyi")


def _plugin(name: str) -> str:
    scripts = Path(sysconfig.get_path("scripts"))
    found = shutil.which(name, path=str(scripts)) or shutil.which(name)
    if found is None:
        raise SystemExit(f"generate: {name} not found; install the dev extras (mypy-protobuf)")
    return found


def generate(out_dir: Path) -> list[Path]:
    """Generate every module of ``edgeway/v1`` under ``out_dir``; return the files written."""
    protos = sorted(PACKAGE_DIR.glob("*.proto"))
    include = Path(protoc.__file__).resolve().parent / "_proto"
    args = [
        "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"-I{include}",
        f"--plugin=protoc-gen-mypy={_plugin('protoc-gen-mypy')}",
        f"--plugin=protoc-gen-mypy_grpc={_plugin('protoc-gen-mypy_grpc')}",
        f"--python_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        f"--mypy_out=quiet:{out_dir}",
        f"--mypy_grpc_out=quiet:{out_dir}",
        *[str(p.relative_to(PROTO_ROOT)) for p in protos],
    ]
    if protoc.main(args) != 0:
        raise SystemExit("generate: protoc failed")
    generated = out_dir / "edgeway" / "v1"
    return sorted(p for p in generated.iterdir() if p.name.endswith(GENERATED_SUFFIXES))


def stale_files() -> list[str]:
    """Names of generated files that differ from a fresh generation (or are missing/extra)."""
    with tempfile.TemporaryDirectory() as tmp:
        fresh = {p.name: p for p in generate(Path(tmp))}
        committed = {p.name: p for p in PACKAGE_DIR.iterdir()
                     if p.name.endswith(GENERATED_SUFFIXES)}
        names = sorted(set(fresh) | set(committed))
        return [
            n
            for n in names
            if n not in fresh or n not in committed
            or not filecmp.cmp(fresh[n], committed[n], shallow=False)
        ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report stale files")
    ns = parser.parse_args()
    if ns.check:
        stale = stale_files()
        if stale:
            print("stale generated files: " + ", ".join(stale), file=sys.stderr)
            print("run: python proto/generate.py", file=sys.stderr)
            return 1
        print("generated modules are up to date")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        for path in generate(Path(tmp)):
            shutil.copyfile(path, PACKAGE_DIR / path.name)
            print(f"wrote {(PACKAGE_DIR / path.name).relative_to(PROTO_ROOT.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

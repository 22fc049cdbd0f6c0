"""The compiled data path: the hot modules built with mypyc, and the guard against stale builds.

The modules of the request path (:data:`PARTS`: the proxy, the router, balancing, the access
log, the policy chain with the policies most routes run, the plugin client) are ordinary typed
Python. ``edgeway native build`` compiles them with mypyc into C extensions next to their
sources (one shared library, ``edgeway/edge/_native__mypyc*.so``, and a small shim per module),
which halves the edge's CPU per proxied request or better. The build writes a stamp: the
digest of the sources it compiled.

Python prefers an extension module to the ``.py`` beside it, so a build older than its sources
would run old code. :func:`guard` (called when ``edgeway.edge`` is imported) compares the stamp
with the sources and, when they differ, loads the pure-Python modules instead and says so on
stderr. ``EDGEWAY_NATIVE=0`` asks for the pure-Python modules on purpose (debugging,
profiling with line numbers). Without a build everything runs as plain Python.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import click

__all__ = ["PARTS", "build", "compiled", "digest", "guard", "native_command", "sources", "status"]

EDGE = Path(__file__).resolve().parent
PARTS = (
    "proxy", "routing", "balancing", "accesslog.py", "memo.py",
    # the policy chain and the policies most routes run (the others, and the handlers' base
    # classes in policies/base.py, stay interpreted: tests replace their hooks)
    "policies/chain.py", "policies/_auth.py", "policies/_buckets.py", "policies/_keys.py",
    "policies/_redis.py", "policies/key_auth/handler.py", "policies/rate_limit/handler.py",
    "plugins",  # the edge's side of plugin calls: verdict cache, outcomes, clients
)
"""What is compiled, relative to ``edge/``: packages (every module in them) and modules."""
SKIP = frozenset({"proxy/errors.py"})
"""Modules of those packages left interpreted (exception classes: mypyc wants one assignment
per line in class bodies, and they are off the hot path). Packages' ``__init__`` modules stay
interpreted too: a compiled one gets a wrong ``__path__`` when the shared library is not at the
top of ``sys.path``."""
GROUP = "edgeway.edge._native"
STAMP = EDGE / "_native.stamp"


def sources(edge: Path = EDGE) -> list[Path]:
    """The source files that are compiled, in a stable order."""
    found: list[Path] = []
    for part in PARTS:
        path = edge / part
        found += sorted(path.glob("*.py")) if path.is_dir() else [path]
    return [path for path in found
            if path.name != "__init__.py" and path.relative_to(edge).as_posix() not in SKIP]


def module_name(path: Path, edge: Path = EDGE) -> str:
    return ".".join(["edgeway", "edge", *path.relative_to(edge).with_suffix("").parts])


def digest(edge: Path = EDGE) -> str:
    """What a build is of: the compiled sources' names and bytes, and the Python version."""
    hashed = hashlib.sha256(sys.version.encode())
    for path in sources(edge):
        hashed.update(path.relative_to(edge).as_posix().encode() + b"\0")
        hashed.update(path.read_bytes() + b"\0")
    return hashed.hexdigest()


def compiled(edge: Path = EDGE) -> bool:
    """Whether extension modules of a build are present (current or not)."""
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    return any(edge.glob(f"_native__mypyc{suffix}"))


def status(edge: Path = EDGE) -> str:
    """``compiled`` (a current build, in use), ``off`` (a current build, ``EDGEWAY_NATIVE=0``),
    ``stale`` (a build older than its sources) or ``pure`` (no build)."""
    if not compiled(edge):
        return "pure"
    try:
        stamp = (edge / STAMP.name).read_text().strip()
    except OSError:
        stamp = ""
    if stamp != digest(edge):
        return "stale"
    return "off" if os.environ.get("EDGEWAY_NATIVE", "1") == "0" else "compiled"


class _SourcesFirst(importlib.abc.MetaPathFinder):
    """Finds the compiled modules' ``.py`` files before the extensions beside them."""

    def __init__(self, files: dict[str, Path]) -> None:
        self.files = files

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        file = self.files.get(fullname)
        if file is None:
            return None
        return importlib.util.spec_from_file_location(fullname, file)


def guard() -> None:
    """Use the pure-Python modules when the build is stale or ``EDGEWAY_NATIVE=0``."""
    state = status()
    if state in ("compiled", "pure"):
        return
    if state == "stale":
        sys.stderr.write("edgeway: the compiled data path is older than its sources; running "
                         "the pure-Python modules (rebuild: edgeway native build)\n")
    if not any(isinstance(finder, _SourcesFirst) for finder in sys.meta_path):
        sys.meta_path.insert(0, _SourcesFirst({module_name(path): path for path in sources()}))


def build(force: bool = False) -> bool:
    """Compile :data:`PARTS` in place (unless the build is current); ``True`` when it built."""
    if not force and status() in ("compiled", "off"):
        return False
    from mypyc.build import mypycify
    from setuptools import setup

    import edgeway

    # the folder holding the edgeway package: the checkout (edgeway/edge links to edge/, and
    # pyproject.toml gives mypy its settings) or site-packages for an installed Edgeway
    root = Path(edgeway.__file__).resolve().parent.parent
    here = os.getcwd()
    os.chdir(root)
    try:
        paths = [f"edgeway/edge/{path.relative_to(EDGE).as_posix()}" for path in sources()]
        modules = mypycify(paths, opt_level="3", group_name=GROUP, multi_file=True)
        for module in modules:  # mypyc writes a dotted group's headers under its package
            module.include_dirs.append("build/" + GROUP.rpartition(".")[0].replace(".", "/"))
        jobs = str(max(1, min(4, os.cpu_count() or 1)))
        setup(name="edgeway-native", ext_modules=modules,
              script_args=["-q", "build_ext", "--inplace", "--parallel", jobs,
                           "--build-temp", "build/native"])
    finally:
        os.chdir(here)
    STAMP.write_text(digest() + "\n")
    return True


@click.command("native")
@click.argument("action", type=click.Choice(["build", "status"]), default="status")
@click.option("--force", is_flag=True, help="Rebuild even when the build is current.")
def native_command(action: str, force: bool) -> None:
    """Build the compiled data path (mypyc), or show whether it is in use."""
    if action == "status":
        click.echo(status())
        return
    built = build(force=force)
    click.echo("edgeway: compiled data path " + ("built" if built else "is current"))

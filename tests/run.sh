#!/usr/bin/env bash
# The test command: make .venv ready, then check generated code, lint, types and run pytest.
# Extra arguments go to pytest (e.g. `bash tests/run.sh -k store -x`).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bash deploy/bootstrap.sh --with-redis
export PATH="$root/.venv/bin:$PATH"

echo "== generated protobuf modules"
python proto/generate.py --check
echo "== ruff"
ruff check .
echo "== mypy --strict"
mypy -p edgeway
mypy tests proto/generate.py $(ls bench/*.py 2>/dev/null)
mypy plugins-contrib
echo "== pytest"
exec pytest "$@"

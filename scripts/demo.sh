#!/usr/bin/env bash
# Set up (idempotent) and run the gateway on its offline demo configuration (built-in mock provider).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet -e .
exec .venv/bin/bifrost-asgi --demo "$@"

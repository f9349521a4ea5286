#!/usr/bin/env bash
# Set up (idempotent) and run the whole test suite: ruff, mypy --strict, pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[dev]'
.venv/bin/ruff check bifrost_asgi tests examples bench
.venv/bin/mypy bifrost_asgi
.venv/bin/pytest -q "$@"

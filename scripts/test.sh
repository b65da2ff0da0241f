#!/usr/bin/env bash
# The whole test suite, with its own set-up. CI runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export GRAPHC_DATA_DIR="${GRAPHC_DATA_DIR:-$(cd .. && pwd)/shared/datasets}"
.venv/bin/ruff check .
.venv/bin/python -m pytest "$@"

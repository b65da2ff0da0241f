#!/usr/bin/env bash
# The main job: set up, then train real models on real data with compiled code.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export GRAPHC_DATA_DIR="${GRAPHC_DATA_DIR:-$(cd .. && pwd)/shared/datasets}"
.venv/bin/python examples/main.py "$@"

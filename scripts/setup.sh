#!/usr/bin/env bash
# Idempotent set-up shared by the README's commands: a virtualenv with graphc installed,
# graphviz's `dot` for rendering diagrams (DOT text works without it), and mpi4py with MPICH for
# the data-parallel tests (mpirun in .venv/bin).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
if ! .venv/bin/python -c "import graphc, graphc_runtime, pytest, hypothesis, PIL, sklearn, mpi4py" 2>/dev/null \
        || [ pyproject.toml -nt .venv/.graphc-installed ]; then
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[test]"
    touch .venv/.graphc-installed
fi
if ! command -v dot >/dev/null 2>&1; then
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq graphviz) >/dev/null 2>&1 \
            || echo "note: could not install graphviz; diagrams will be written as DOT text only" >&2
    else
        echo "note: graphviz 'dot' not found; install it (apt-get install graphviz) to render diagrams" >&2
    fi
fi

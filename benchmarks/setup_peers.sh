#!/usr/bin/env bash
# Creates benchmarks/.peers-venv with PyTorch (CPU build, from the local wheel pip knows of), JAX,
# ONNX Runtime and TensorFlow (CPU), so the peer benchmarks can compare graphc with them. graphc never
# depends on any.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="$here/.peers-venv"
python="${PYTHON:-python3}"
if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --upgrade pip
# torch==2.13.0 exactly: an open range would pull a multi-GB CUDA build.
"$venv/bin/pip" install --quiet "torch==2.13.0"
"$venv/bin/pip" install --quiet jax jaxlib numpy threadpoolctl onnx onnxruntime tensorflow-cpu
"$venv/bin/python" -c "import torch, jax, onnxruntime, tensorflow; print('torch', torch.__version__, 'jax', jax.__version__, 'onnxruntime', onnxruntime.__version__, 'tensorflow', tensorflow.__version__)"

#!/usr/bin/env bash
# The GPU check: on a machine with CUDA, every GPU path of the project in under 8 minutes.
#
#   benchmarks/gpu.sh [OUT_DIR] [gpu_check.py options]     # OUT_DIR: default benchmarks/results
#   LA_POSE_GPU_OUT=/tmp/gpu benchmarks/gpu.sh             # the same, folder from the environment
#
# Steps (benchmarks/gpu_check.py, each in its own process under its own timeout, a failure never
# stops the next): environment, the pytest tests marked `cuda`, the paper config's streaming
# frames/s at 960x448 in bf16 (target >= 100 on one H100/H200), the small config's training
# steps/s, `la-pose train` for a few steps on synthetic shards made in a temporary folder, a
# one-process nccl DDP step under torchrun, and ONNX Runtime on CUDA when `la-pose export` and
# onnxruntime-gpu are there. Writes OUT_DIR/gpu.json and OUT_DIR/gpu.md (each step: passed,
# failed or skipped with the reason); exit code 1 when a step failed.
#
# Without CUDA (as on this project's CPU machines) the GPU steps are skipped with their reason in
# seconds: pass a scratch OUT_DIR there, so that no CPU run lands in benchmarks/results.
# Nothing is downloaded: .venv is reused, or made by `make setup`, which then needs pip's
# packages at hand offline (PIP_NO_INDEX=1 PIP_FIND_LINKS=wheelhouse/) and torch's CUDA build
# (make setup TORCH_PIP_ARGS="--index-url https://download.pytorch.org/whl/cu128" where the
# index is reachable; a CPU build of torch makes every GPU step skip, and environment says so).
set -uo pipefail
cd "$(dirname "$0")/.."

OUT=${LA_POSE_GPU_OUT:-benchmarks/results}
if [[ $# -gt 0 && $1 != -* ]]; then
  OUT=$1
  shift
fi

# 1. The venv: reuse it, else build it (not counted in the 8 minutes of the steps).
if [[ ! -x .venv/bin/python ]]; then
  echo "[gpu.sh] no .venv: make setup" >&2
  if ! make setup; then
    echo "[gpu.sh] make setup failed: see above (offline: PIP_NO_INDEX=1 PIP_FIND_LINKS=DIR)" >&2
    exit 2
  fi
fi

# 2. A note when torch cannot see a GPU (the steps that need one are then skipped).
.venv/bin/python -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' ||
  echo "[gpu.sh] torch sees no CUDA device: the GPU steps will be skipped" >&2

# 3. The steps and the report.
exec .venv/bin/python benchmarks/gpu_check.py --out "$OUT" "$@"

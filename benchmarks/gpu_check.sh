#!/usr/bin/env bash
# The GPU check: ~100M-parameter synthetic-world model pre-trained from scratch + a reduced
# rebound grid, with tokens/s and MFU. On CPU it runs the same path, tiny (`--preset cpu-smoke`).
# Usage: benchmarks/gpu_check.sh [--preset gpu|cpu-smoke] [--device cpu|cuda] [--results DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1
exec "$PY" benchmarks/gpu_check.py "$@"

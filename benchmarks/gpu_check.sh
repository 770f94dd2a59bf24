#!/usr/bin/env bash
# Every registered method once on CUDA and once on CPU (bundled digits, small), Spearman of the
# two value vectors >= 0.99, time of each; PASS/FAIL lines, exit 1 on any failure. Under 5 min.
#   bash benchmarks/gpu_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
[ -x "$PY" ] || PY=python3
PYTHONPATH="$PWD" exec timeout 295 "$PY" benchmarks/gpu_check.py "$@"

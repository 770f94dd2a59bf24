#!/usr/bin/env bash
# One call, under 5 minutes, on a machine with a CUDA GPU:
# 1. every registered method once on CUDA and once on CPU (bundled digits, small), Spearman of the
#    two value vectors >= 0.99, time of each; PASS/FAIL lines (gpu_check.py, 140 s);
# 2. the default method at 50,000 rows beside knn_shapley, and sava at 1M and 10M rows on the
#    defaults (Sinkhorn on CUDA), AUROC beside each time; a size that cannot finish in time is
#    skipped and says so (gpu_scale.py, the rest of the 5 minutes).
# Exit 1 when the parity check fails.
#   bash benchmarks/gpu_check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
[ -x "$PY" ] || PY=python3
export PYTHONPATH="$PWD"
timeout 145 "$PY" benchmarks/gpu_check.py --timeout 135 "$@"
status=$?
timeout 150 "$PY" benchmarks/gpu_scale.py --budget 140
exit $status

#!/usr/bin/env bash
# GPU readiness in one command: CUDA tests, AMP training steps of the paper network,
# ResNet-50 colorization and ResNet-50 + HNC, tools/dist_train.sh on all GPUs (NCCL),
# images/s and the colorization/supervised step ratio; one summary table; the exit
# status is non-zero when any check fails. Run it after
#   FORCE_CUDA=1 bash tools/setup_env.sh
# with that environment's python (or any CUDA environment with colorssl installed):
#   PYTHON=/path/to/env/bin/python bash benchmarks/gpu_check.sh [--gpus N] [--steps N]
# Without a GPU (or with --cpu) it runs the same code paths reduced, on CPU, with
# bf16 autocast. Options: see benchmarks/gpu_check.py.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
if command -v nvidia-smi >/dev/null 2>&1; then
    nvidia-smi --query-gpu=index,name,memory.total,driver_version --format=csv || true
fi
exec "$PYTHON" benchmarks/gpu_check.py "$@"

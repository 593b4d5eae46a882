#!/usr/bin/env bash
# The README's second command: set up (or reuse) the full environment (compiled mmcv,
# mmdet, mmsegmentation, test and lint tools; see tools/setup_env.sh), run the tests and
# check the lint (flake8 and isort --check, settings in setup.cfg). Fails if either fails.
# Extra arguments go to pytest (e.g. tests/test_color -k lab); COLORSSL_LINT=0 skips the
# lint step; COLORSSL_TEST_WORKERS sets the pytest-xdist workers (default: one per CPU).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
ENV_DIR=$(bash tools/setup_env.sh | tail -n 1)
PY="$ENV_DIR/bin/python"
rc=0
# One pytest worker per CPU (pytest-xdist): most tests wait on single-threaded tool
# subprocesses. COLORSSL_TEST_WORKERS=0 runs them in this process, one after another.
CPUS=$("$PY" -c 'import os; print(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count())')
"$PY" -m pytest -q -p no:cacheprovider -n "${COLORSSL_TEST_WORKERS:-$CPUS}" "$@" || rc=$?
if [ "${COLORSSL_LINT:-1}" != 0 ]; then
  echo "[run_tests] lint: flake8 and isort --check-only (setup.cfg)" >&2
  "$PY" -m flake8 . || { echo "[run_tests] flake8 failed" >&2; rc=1; }
  "$PY" -m isort --check-only --quiet . || \
    { echo "[run_tests] isort failed: run '$PY -m isort .'" >&2; rc=1; }
fi
exit "$rc"

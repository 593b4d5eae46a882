#!/usr/bin/env bash
# The README's second command: set up (or reuse) the environment and run the tests.
# Extra arguments go to pytest (e.g. tests/test_color -k lab).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
ENV_DIR=$(bash tools/setup_env.sh | tail -n 1)
exec "$ENV_DIR/bin/python" -m pytest -q -p no:cacheprovider "$@"

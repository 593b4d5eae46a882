#!/usr/bin/env bash
# The README's first command: set up (or reuse) the environment, write the embedded
# demo data, pretrain a colorization network on CPU through tools/train.py, and
# colorize the held-out demo photos with the checkpoint.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
ENV_DIR=$(bash tools/setup_env.sh | tail -n 1)
PY="$ENV_DIR/bin/python"
CONFIG=configs/colorization/colorization_colornet-c16_1xb16-2k_demo.py
WORK_DIR=${WORK_DIR:-work_dirs/demo}

[ -d data/demo/train ] || "$PY" tools/make_demo_data.py --out data/demo
# The colour prior of the demo photos themselves (the head rebalances with it).
[ -f data/demo/prior_313.npz ] || "$PY" tools/compute_color_prior.py data/demo/train \
  --bins original313 --sigma 5 --out data/demo/prior_313.npz
"$PY" tools/train.py "$CONFIG" --work-dir "$WORK_DIR" "$@"
CKPT=$(cat "$WORK_DIR/last_checkpoint")
"$PY" tools/colorize.py "$CONFIG" "$CKPT" data/demo/val \
  --out-dir "$WORK_DIR/colorized" --side-by-side --size 128
echo "checkpoint: $CKPT"
echo "training pictures (gray | prediction | truth): $(ls -d "$WORK_DIR"/*/vis_data/vis_image 2>/dev/null | tail -n 1)"
echo "colorized val photos: $WORK_DIR/colorized"

#!/usr/bin/env bash
# The README's first command: set up (or reuse) the light environment, write the
# embedded demo data, pretrain a colorization network on CPU through tools/train.py,
# colorize the held-out photos at their full resolution and draw one picture:
# gray | ours | original, a row per held-out photo (its path is printed last).
#
#   bash tools/run_demo.sh [tools/train.py options, e.g. --cfg-options ...]
#
# WORK_DIR (default work_dirs/demo) holds the checkpoint, logs and pictures;
# DEMO_SIZE (default 256) is the shorter side the network sees when colorizing.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
ENV_DIR=$(bash tools/setup_env.sh --light | tail -n 1)
PY="$ENV_DIR/bin/python"
CONFIG=configs/colorization/colorization_colornet-c16_1xb16-0.6k_demo.py
WORK_DIR=${WORK_DIR:-work_dirs/demo}
SIZE=${DEMO_SIZE:-256}
# Quiet two import-time warnings that do not concern the demo: mmcv-lite has no
# compiled ops (the demo needs none); mmengine imports pkg_resources (setuptools < 81).
export PYTHONWARNINGS=${PYTHONWARNINGS:-ignore::UserWarning:mmcv.cnn.bricks.transformer,ignore:pkg_resources is deprecated:UserWarning}

[ -d data/demo/heldout ] || "$PY" tools/make_demo_data.py --out data/demo
# The colour prior of the rebalancing is estimated from data/demo/train by the
# config's ColorPriorHook (model.head.prior='auto') before the first iteration.
"$PY" tools/train.py "$CONFIG" --work-dir "$WORK_DIR" "$@"
CKPT=$(cat "$WORK_DIR/last_checkpoint")
"$PY" tools/colorize.py "$CONFIG" "$CKPT" data/demo/heldout \
  --out-dir "$WORK_DIR/colorized" --size "$SIZE"
"$PY" tools/demo_grid.py data/demo/heldout "$WORK_DIR/colorized" \
  --out "$WORK_DIR/demo_grid.png" >/dev/null
echo "checkpoint: $CKPT"
echo "training pictures (gray | prediction | truth): $(ls -d "$WORK_DIR"/*/vis_data/vis_image 2>/dev/null | tail -n 1)"
echo "held-out photos colorized at full resolution: $WORK_DIR/colorized"
echo "gray | ours | original: $WORK_DIR/demo_grid.png"

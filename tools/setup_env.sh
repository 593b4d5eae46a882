#!/usr/bin/env bash
# Create (or reuse) colorssl's virtual environment, at one of two levels.
#
#   bash tools/setup_env.sh            # full level; prints the environment's path last
#   bash tools/setup_env.sh --light    # light level (what tools/run_demo.sh uses)
#
# One environment, two levels; the full level upgrades the light one in place:
#   light  torch, torchvision, mmengine, mmcv-lite (pure Python wheel, no compiled ops),
#          mmpretrain, scikit-image (the demo photos), colorssl (editable).
#          Enough for colorization pretraining, colorizing photos and HNC. Minutes.
#   full   the light level with the compiled mmcv instead of mmcv-lite, mmdet,
#          mmsegmentation and the test/lint tools (colorssl[all,tests]): transfer to
#          detection and segmentation, and the test suite (tools/run_tests.sh).
# Running --light on a full environment changes nothing (the compiled mmcv stays).
#
# Environment variables:
#   COLORSSL_CACHE   where environments and built wheels live (default ~/.cache/colorssl)
#   COLORSSL_ENV     the virtual environment to create or reuse
#                    (default $COLORSSL_CACHE/envs/py<X.Y>-torch<T>)
#   PYTHON           the interpreter to build the environment from (default python3)
#   MAX_JOBS         compiler processes for the mmcv build (default: all cores)
#
# mmcv 2.1.0 (the newest release mmdet 3.3 and mmseg 1.2.2 accept) ships no wheel for this
# torch, so the full level compiles it once from its source release and caches the wheel
# under a key made of the mmcv, torch and Python versions: pip's own wheel cache does not
# key on the torch version and would hand back a wheel built against another torch.
set -euo pipefail

TORCH_VERSION=2.14.1
TORCHVISION_VERSION=0.29.1
MMENGINE_VERSION=0.10.7
MMCV_VERSION=2.1.0
MMPRETRAIN_VERSION=1.2.0
MMDET_VERSION=3.3.0
MMSEG_VERSION=1.2.2
PYTHON=${PYTHON:-python3}

log() { echo "[setup_env ${SECONDS}s] $*" >&2; }
die() { echo "[setup_env] ERROR: $*" >&2; exit 1; }

LEVEL=full
for arg in "$@"; do
  case "$arg" in
    --light) LEVEL=light ;;
    --full) LEVEL=full ;;
    -h|--help) sed -n '2,26p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$arg' (expected --light or --full)" ;;
  esac
done

command -v "$PYTHON" >/dev/null || die "no interpreter '$PYTHON' (set PYTHON=...)"
PYVER=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
case "$PYVER" in
  3.10|3.11|3.12) ;;
  *) die "Python $PYVER is not supported: colorssl's stack (torch $TORCH_VERSION, mmcv $MMCV_VERSION) needs Python 3.10-3.12. Set PYTHON to such an interpreter." ;;
esac

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${COLORSSL_CACHE:-$HOME/.cache/colorssl}
ENV_DIR=${COLORSSL_ENV:-$CACHE/envs/py$PYVER-torch$TORCH_VERSION}
KEY="mmcv$MMCV_VERSION-torch$TORCH_VERSION-py$PYVER"
WHEEL_DIR=$CACHE/wheels/$KEY
mkdir -p "$CACHE"

if [ ! -x "$ENV_DIR/bin/python" ]; then
  log "creating environment $ENV_DIR"
  "$PYTHON" -m venv "$ENV_DIR"
fi
PY="$ENV_DIR/bin/python"
PIP=("$PY" -m pip --disable-pip-version-check -q)
log "$LEVEL level in $ENV_DIR"

# The version of an installed distribution, or nothing.
dist_version() {
  "$PY" -c "import importlib.metadata as m, sys
try: print(m.version(sys.argv[1]))
except m.PackageNotFoundError: pass" "$1"
}

# ------------------------------------------------------------------ light level
# setuptools < 81 keeps pkg_resources, which mmcv's build and mmengine's
# `_base_ = 'mmdet::...'` config resolution both import.
"${PIP[@]}" install "setuptools>=77,<81" wheel "numpy<2"

torch_versions() {
  "$PY" -c "import torch, torchvision; print(torch.__version__.split('+')[0], torchvision.__version__.split('+')[0])" 2>/dev/null || true
}
have_torch=$(torch_versions)
if [ "$have_torch" != "$TORCH_VERSION $TORCHVISION_VERSION" ]; then
  log "installing torch $TORCH_VERSION, torchvision $TORCHVISION_VERSION (found: '${have_torch:-none}')"
  "${PIP[@]}" install "torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION"
  have_torch=$(torch_versions)
  [ "$have_torch" = "$TORCH_VERSION $TORCHVISION_VERSION" ] || \
    die "torch, torchvision '${have_torch:-not importable}' in $ENV_DIR, expected $TORCH_VERSION $TORCHVISION_VERSION"
fi

# mmcv and mmcv-lite are the same `mmcv` package, with and without compiled ops; they
# install into the same folder, so only one of them may be present.
MMCV_FULL=$(dist_version mmcv)
MMCV_LITE=$(dist_version mmcv-lite)
[ -z "$MMCV_FULL" ] || [ -z "$MMCV_LITE" ] || \
  die "both mmcv $MMCV_FULL and mmcv-lite $MMCV_LITE are installed in $ENV_DIR; they own the same files: pip uninstall -y mmcv mmcv-lite, then rerun"

# mmcv's own runtime dependencies (the compiled wheel is installed with --no-deps below)
# and the light stack. scikit-image ships the photos tools/make_demo_data.py crops.
LIGHT_PKGS=("mmengine==$MMENGINE_VERSION" "mmpretrain==$MMPRETRAIN_VERSION" addict yapf
  pyyaml packaging pillow opencv-python scikit-image "numpy<2")
if [ -n "$MMCV_FULL" ]; then
  [ "$MMCV_FULL" = "$MMCV_VERSION" ] || die "mmcv $MMCV_FULL in $ENV_DIR, expected $MMCV_VERSION: pip uninstall -y mmcv, then rerun"
  mmcv_msg="keeping the compiled mmcv $MMCV_FULL"
else
  LIGHT_PKGS+=("mmcv-lite==$MMCV_VERSION")
  mmcv_msg="mmcv-lite $MMCV_VERSION"
fi
log "installing (or checking) mmengine, mmpretrain, scikit-image; $mmcv_msg"
"${PIP[@]}" install "${LIGHT_PKGS[@]}"

# colorssl itself, editable; reinstalled only when this checkout is not the one imported.
colorssl_here() {
  "$PY" -I -c "import os, sys, importlib.util as u
s = u.find_spec('colorssl')
sys.exit(0 if s and os.path.realpath(s.origin).startswith(os.path.realpath(sys.argv[1]) + os.sep) else 1)" "$ROOT" 2>/dev/null
}
colorssl_here || { log "installing colorssl (editable) from $ROOT"; "${PIP[@]}" install --no-deps -e "$ROOT"; }

"$PY" -I -c "import mmcv, mmengine, mmpretrain, skimage, colorssl" 2>/dev/null || \
  die "the light stack does not import in $ENV_DIR: run $PY -c 'import mmpretrain' to see why"

if [ "$LEVEL" = light ]; then
  log "environment ready ($LEVEL): $ENV_DIR"
  echo "$ENV_DIR"
  exit 0
fi

# ------------------------------------------------------------------- full level
mmcv_ok() {
  "$PY" - <<'PY' 2>/dev/null
import mmcv, torch
from mmcv.ops import nms
b = torch.tensor([[0., 0., 10., 10.], [1., 1., 10., 10.]])
nms(b, torch.tensor([0.9, 0.8]), 0.5)
assert mmcv.__version__ == '2.1.0'
PY
}

if ! mmcv_ok; then
  mkdir -p "$WHEEL_DIR"
  wheel=$(ls "$WHEEL_DIR"/mmcv-"$MMCV_VERSION"-*.whl 2>/dev/null | head -n1 || true)
  if [ -z "$wheel" ]; then
    log "building mmcv $MMCV_VERSION with ops for $KEY (about 25 minutes on 2 cores, once)"
    "${PIP[@]}" install ninja
    src=$(mktemp -d)
    trap 'rm -rf "$src"' EXIT
    "${PIP[@]}" download "mmcv==$MMCV_VERSION" --no-deps --no-binary :all: --no-build-isolation -d "$src"
    tar -xzf "$src"/mmcv-"$MMCV_VERSION".tar.gz -C "$src"
    pkg="$src/mmcv-$MMCV_VERSION"
    # Patch: torch >= 2.5 headers use C++20 features, while mmcv 2.1.0's setup.py compiles
    # its C++ (and CUDA) extensions with -std=c++14 / -std=c++17. Ask for C++20 instead.
    # Checked: if no flag was replaced, mmcv's setup.py changed and this patch is stale.
    n=$(grep -cE -- "-std=c\+\+1[47]" "$pkg/setup.py" || true)
    [ "$n" -gt 0 ] || die "mmcv setup.py has no -std=c++14/17 flag left to patch: review tools/setup_env.sh"
    sed -i -E 's/-std=c\+\+1[47]/-std=c++20/g' "$pkg/setup.py"
    ! grep -qE -- "-std=c\+\+1[47]" "$pkg/setup.py" || die "C++ standard patch did not apply to mmcv setup.py"
    log "patched $n C++ standard flag line(s) in mmcv setup.py"
    (cd "$pkg" && MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-$(nproc)} \
      "$PY" -m pip --disable-pip-version-check wheel --no-build-isolation --no-deps . -w "$WHEEL_DIR.partial" >&2)
    mv "$WHEEL_DIR.partial"/mmcv-*.whl "$WHEEL_DIR"/
    rmdir "$WHEEL_DIR.partial" 2>/dev/null || true
    wheel=$(ls "$WHEEL_DIR"/mmcv-"$MMCV_VERSION"-*.whl | head -n1)
  else
    log "reusing cached mmcv wheel $wheel"
  fi
  if [ -n "$(dist_version mmcv-lite)" ]; then
    log "replacing mmcv-lite with the compiled mmcv"
    "${PIP[@]}" uninstall -y mmcv-lite
  fi
  "${PIP[@]}" install --no-deps --force-reinstall "$wheel"
  mmcv_ok || die "mmcv $MMCV_VERSION from $wheel does not import its ops with torch $TORCH_VERSION"
fi

log "installing mmdet, mmsegmentation and the test tools"
"${PIP[@]}" install "mmdet==$MMDET_VERSION" "mmsegmentation==$MMSEG_VERSION" "numpy<2"
"${PIP[@]}" install -e "$ROOT[all,tests]"
mmcv_ok || die "installing the full level replaced the compiled mmcv in $ENV_DIR (a package pulled mmcv-lite?)"
log "environment ready ($LEVEL): $ENV_DIR"
echo "$ENV_DIR"

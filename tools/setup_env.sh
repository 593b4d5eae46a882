#!/usr/bin/env bash
# Create (or reuse) the colorssl environment on a machine without a prebuilt mmcv wheel.
#
#   bash tools/setup_env.sh            # prints the environment's path on its last line
#
# Environment variables:
#   COLORSSL_CACHE   where environments and built wheels live (default ~/.cache/colorssl)
#   COLORSSL_ENV     the virtual environment to create or reuse
#                    (default $COLORSSL_CACHE/envs/py<X.Y>-torch<T>)
#   PYTHON           the interpreter to build the environment from (default python3)
#
# mmcv 2.1.0 (the newest release mmdet 3.3 and mmseg 1.2.2 accept) ships no wheel for this
# torch, so it is compiled once from its source release and the wheel is cached under a
# key made of the mmcv, torch and Python versions: pip's own wheel cache does not key on
# the torch version and would hand back a wheel built against another torch.
set -euo pipefail

TORCH_VERSION=2.14.1
TORCHVISION_VERSION=0.29.1
MMCV_VERSION=2.1.0
PYTHON=${PYTHON:-python3}

log() { echo "[setup_env] $*" >&2; }
die() { echo "[setup_env] ERROR: $*" >&2; exit 1; }

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
mkdir -p "$CACHE" "$WHEEL_DIR"

if [ ! -x "$ENV_DIR/bin/python" ]; then
  log "creating environment $ENV_DIR"
  "$PYTHON" -m venv "$ENV_DIR"
fi
PY="$ENV_DIR/bin/python"
PIP=("$PY" -m pip --disable-pip-version-check -q)

# setuptools < 81 keeps pkg_resources, which mmcv's build and mmengine's
# `_base_ = 'mmdet::...'` config resolution both import.
"${PIP[@]}" install "setuptools>=77,<81" wheel ninja "numpy<2"

have_torch=$("$PY" -c "import torch, torchvision; print(torch.__version__.split('+')[0], torchvision.__version__.split('+')[0])" 2>/dev/null || true)
if [ "$have_torch" != "$TORCH_VERSION $TORCHVISION_VERSION" ]; then
  log "installing torch $TORCH_VERSION, torchvision $TORCHVISION_VERSION (found: '${have_torch:-none}')"
  "${PIP[@]}" install "torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION"
fi
TORCH_FOUND=$("$PY" -c "import torch; print(torch.__version__.split('+')[0])")
[ "$TORCH_FOUND" = "$TORCH_VERSION" ] || die "torch $TORCH_FOUND in $ENV_DIR, expected $TORCH_VERSION"

# mmcv's own runtime dependencies (its wheel is installed with --no-deps below).
"${PIP[@]}" install "mmengine==0.10.7" addict yapf pyyaml packaging pillow opencv-python \
  ftfy regex "numpy<2"

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
  wheel=$(ls "$WHEEL_DIR"/mmcv-"$MMCV_VERSION"-*.whl 2>/dev/null | head -n1 || true)
  if [ -z "$wheel" ]; then
    log "building mmcv $MMCV_VERSION with ops for $KEY (about 25 minutes on 2 cores, once)"
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
  "${PIP[@]}" install --no-deps --force-reinstall "$wheel"
  mmcv_ok || die "mmcv $MMCV_VERSION from $wheel does not import its ops with torch $TORCH_VERSION"
fi

log "installing OpenMMLab packages and colorssl"
"${PIP[@]}" install "mmpretrain==1.2.0" "mmdet==3.3.0" "mmsegmentation==1.2.2" "numpy<2"
"${PIP[@]}" install --no-deps -e "$ROOT"
"${PIP[@]}" install -e "$ROOT[tests]"
log "environment ready: $ENV_DIR"
echo "$ENV_DIR"

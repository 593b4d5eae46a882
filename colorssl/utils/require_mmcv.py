"""A clear error when neither mmcv nor mmcv-lite is installed."""
import importlib.util


def require_mmcv() -> None:
    """Raise an ImportError naming both ways to install mmcv when it is missing."""
    try:
        found = importlib.util.find_spec('mmcv') is not None
    except (ImportError, ValueError):  # a broken or blocked ``mmcv`` entry
        found = False
    if not found:
        raise ImportError(
            'colorssl needs mmcv 2.0 or 2.1, which is not installed. Install either '
            "the pure-Python build, enough for colorization and HNC: pip install "
            "'mmcv-lite>=2.0.0,<2.2.0' (or 'colorssl[lite]'), or the compiled build "
            'that mmdet and mmsegmentation also need: mim install "mmcv>=2.0.0,<2.2.0" '
            '(bash tools/setup_env.sh builds it for torch versions without a prebuilt '
            'wheel).')

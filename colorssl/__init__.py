"""colorssl: colorization pretraining and the HNC loss as OpenMMLab plugins.

``import colorssl`` (or ``custom_imports=dict(imports=['colorssl'])`` in a config)
registers every colorssl module in mmpretrain's registries and makes mmengine's
checkpoints loadable with torch's weights-only unpickler. It needs only mmpretrain:
nothing here imports mmdet or mmsegmentation, which detection and segmentation configs
need (``pip install 'colorssl[det]'`` / ``'colorssl[seg]'``).
"""
from .utils import patch_mmengine_checkpoints
from .utils.require_mmcv import require_mmcv

require_mmcv()  # before the modules that import mmcv: name both ways to install it
patch_mmengine_checkpoints()

from . import color  # noqa: E402,F401
from . import datasets, engine, evaluation, models  # noqa: E402,F401

__version__ = '0.1.0'

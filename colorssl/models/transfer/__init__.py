"""From a colorization checkpoint to stock mmpretrain / mmdet / mmseg backbones
(no import of mmdet or mmsegmentation here)."""
from .colorization_checkpoint import (IMAGENET_MEAN, IMAGENET_STD,
                                      CheckpointMismatchError, ColorizationCheckpoint,
                                      KeyReport, StemInfo, check_loadable,
                                      compare_state_dict, convert_colorization_backbone,
                                      find_stem, format_report,
                                      load_colorization_checkpoint)
from .colorization_pretrained_init import ColorizationPretrainedInit
from .pretrained_check import check_pretrained_init, load_pretrained_state
from .state_dict_keys import checkpoint_tensors, strip_prefix
from .stem_fold import fit_srgb_to_lightness, fold_l_into_rgb_conv, gray_fit

__all__ = [
    'IMAGENET_MEAN', 'IMAGENET_STD', 'CheckpointMismatchError',
    'ColorizationCheckpoint', 'KeyReport', 'StemInfo', 'check_loadable',
    'compare_state_dict', 'convert_colorization_backbone', 'find_stem', 'format_report',
    'load_colorization_checkpoint', 'ColorizationPretrainedInit',
    'check_pretrained_init', 'load_pretrained_state', 'checkpoint_tensors',
    'strip_prefix', 'fit_srgb_to_lightness', 'fold_l_into_rgb_conv', 'gray_fit'
]

"""From a colorization checkpoint to stock mmpretrain / mmdet / mmseg backbones."""
from .colorization_checkpoint import (IMAGENET_MEAN, IMAGENET_STD,
                                      CheckpointMismatchError, KeyReport,
                                      check_loadable, checkpoint_tensors,
                                      compare_state_dict, convert_colorization_backbone,
                                      find_stem, format_report,
                                      load_colorization_checkpoint,
                                      load_pretrained_state, strip_prefix)
from .colorization_pretrained_init import ColorizationPretrainedInit
from .stem_fold import fit_srgb_to_lightness, fold_l_into_rgb_conv, gray_fit

__all__ = [
    'IMAGENET_MEAN', 'IMAGENET_STD', 'CheckpointMismatchError', 'KeyReport',
    'check_loadable', 'checkpoint_tensors', 'compare_state_dict',
    'convert_colorization_backbone', 'find_stem', 'format_report',
    'load_colorization_checkpoint', 'load_pretrained_state', 'strip_prefix',
    'ColorizationPretrainedInit', 'fit_srgb_to_lightness', 'fold_l_into_rgb_conv',
    'gray_fit'
]

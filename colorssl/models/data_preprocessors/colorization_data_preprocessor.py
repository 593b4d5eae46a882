"""uint8 RGB batches -> (L input for the network, ab target), on the model's device."""
from typing import Optional, Sequence, Union

import torch
from mmengine.model import BaseDataPreprocessor
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from colorssl.color import rgb8_to_lab, rgb_to_lab

#: An image is grayscale when no pixel has ``|a|`` or ``|b|`` above this.
GRAY_THRESHOLD = 5.0


def images_to_lab(images: Union[torch.Tensor, Sequence[torch.Tensor]],
                  channel_order: str = 'rgb',
                  device: Optional[Union[str, torch.device]] = None) -> torch.Tensor:
    """(N, 3, H, W) images, or N tensors (3, H, W) of one size, uint8 or [0, 1] float
    in ``channel_order`` (``'rgb'`` or ``'bgr'``) -> (N, 3, H, W) Lab, float32
    (float64 for float64 input), converted on ``device`` (default: the images')."""
    if isinstance(images, (list, tuple)):
        shapes = {tuple(img.shape) for img in images}
        if len(shapes) != 1:
            raise ValueError(
                'ColorizationDataPreprocessor needs images of one size in a batch, '
                f'got shapes {sorted(shapes)}: crop or resize them in the pipeline')
        images = torch.stack(list(images))
    if images.dim() != 4 or images.size(1) != 3:
        raise ValueError('ColorizationDataPreprocessor expects (N, 3, H, W) images, '
                         f'got shape {tuple(images.shape)}')
    if device is not None:
        images = images.to(device)
    if images.dtype == torch.uint8:
        return rgb8_to_lab(images, channel_order=channel_order)
    rgb = images if images.dtype == torch.float64 else images.float()
    return rgb_to_lab(rgb.flip(1) if channel_order == 'bgr' else rgb)


def gray_flags(ab: torch.Tensor, gray_thresh: float = GRAY_THRESHOLD) -> torch.Tensor:
    """ab (N, 2, H, W) -> (N,) bool, True where no ``|a|``, ``|b|`` > gray_thresh."""
    return ab.abs().flatten(1).amax(1) <= gray_thresh


@MODELS.register_module()
class ColorizationDataPreprocessor(BaseDataPreprocessor):
    """Images -> network input ``(L - l_cent) / l_norm`` (N, replicate_l, H, W); each
    data sample gets ``gt_ab`` (2, H, W) and the metainfo ``is_gray`` (bool).

    Args:
        channel_order (str): ``'rgb'`` or ``'bgr'``. Defaults to ``'rgb'``.
        l_cent (float): Subtracted from L. Defaults to 50.
        l_norm (float): Divides the centred L. Defaults to 1.
        gray_thresh (float): Grayscale threshold. Defaults to :data:`GRAY_THRESHOLD`.
        replicate_l (int): Channels L is repeated into. Defaults to 1.
    """

    def __init__(self,
                 channel_order: str = 'rgb',
                 l_cent: float = 50.,
                 l_norm: float = 1.,
                 gray_thresh: float = GRAY_THRESHOLD,
                 replicate_l: int = 1):
        super().__init__()
        if channel_order not in ('rgb', 'bgr'):
            raise ValueError("data_preprocessor.channel_order must be 'rgb' or 'bgr', "
                             f'got {channel_order!r}')
        if l_norm <= 0:
            raise ValueError(f'data_preprocessor.l_norm must be > 0, got {l_norm}')
        self.channel_order = channel_order
        self.l_cent = float(l_cent)
        self.l_norm = float(l_norm)
        self.gray_thresh = float(gray_thresh)
        self.replicate_l = int(replicate_l)

    def to_lab(self, images: Union[torch.Tensor,
                                   Sequence[torch.Tensor]]) -> torch.Tensor:
        """:func:`images_to_lab` on the model's device: (N, 3, H, W) Lab."""
        return images_to_lab(images, self.channel_order, self.device)

    def split_lab(self, lab: torch.Tensor):
        """Lab (N, 3, H, W) -> (input (N, replicate_l, H, W), ab (N, 2, H, W),
        is_gray (N,) bool)."""
        inputs = (lab[:, :1] - self.l_cent) / self.l_norm
        if self.replicate_l > 1:
            inputs = inputs.expand(-1, self.replicate_l, -1, -1).contiguous()
        ab = lab[:, 1:]
        return inputs, ab, gray_flags(ab, self.gray_thresh)

    def forward(self, data: dict, training: bool = False) -> dict:
        """``dict(inputs, data_samples)`` -> ``dict(inputs, data_samples)`` with the
        input of :meth:`split_lab` and samples (made if absent) carrying the target."""
        inputs, ab, is_gray = self.split_lab(self.to_lab(data['inputs']))
        data_samples = data.get('data_samples')
        if data_samples is None:
            data_samples = [DataSample() for _ in range(inputs.size(0))]
        for sample, sample_ab, gray in zip(data_samples, ab, is_gray.tolist()):
            sample.set_field(sample_ab, 'gt_ab')
            sample.set_field(gray, 'is_gray', field_type='metainfo')
        return dict(inputs=inputs, data_samples=data_samples)

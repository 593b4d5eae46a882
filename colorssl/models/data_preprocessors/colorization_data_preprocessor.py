"""uint8 RGB batches -> (L input for the network, ab target), on the model's device."""
from typing import List, Optional, Sequence, Union

import torch
from mmengine.model import BaseDataPreprocessor
from mmpretrain.registry import MODELS

from colorssl.color import rgb8_to_lab, rgb_to_lab

GRAY_THRESHOLD = 5.0
"""An image is grayscale when no pixel has ``|a|`` or ``|b|`` above this value (the
released training code's rule). Shared by the data preprocessor, the colour prior
(:func:`colorssl.models.data_preprocessors.ab_histogram`) and the tools."""


def images_to_lab(images: Union[torch.Tensor, Sequence[torch.Tensor]],
                  channel_order: str = 'rgb',
                  device: Optional[Union[str, torch.device]] = None) -> torch.Tensor:
    """Images -> CIE Lab, the conversion of :class:`ColorizationDataPreprocessor`.

    Args:
        images (Tensor | list[Tensor]): (N, 3, H, W) or N tensors (3, H, W) of one
            size, uint8 in [0, 255] or float in [0, 1], in ``channel_order``.
        channel_order (str): ``'rgb'`` or ``'bgr'``. Defaults to ``'rgb'``.
        device (str | torch.device, optional): Where to convert. Defaults to the
            images' device.

    Returns:
        Tensor: Lab of shape (N, 3, H, W), float32 (float64 for float64 input).
    """
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
        # 8-bit input: table-driven conversion, channel order folded in.
        return rgb8_to_lab(images, channel_order=channel_order)
    rgb = images if images.dtype == torch.float64 else images.float()
    if channel_order == 'bgr':
        rgb = rgb.flip(1)
    return rgb_to_lab(rgb)


def gray_flags(ab: torch.Tensor, gray_thresh: float = GRAY_THRESHOLD) -> torch.Tensor:
    """(N,) bool: True for the images of ab (N, 2, H, W) with no ``|a|`` or ``|b|``
    above ``gray_thresh``."""
    return ab.abs().flatten(1).amax(1) <= gray_thresh


@MODELS.register_module()
class ColorizationDataPreprocessor(BaseDataPreprocessor):
    """Turn a batch of images into the colorization input and target.

    The images are converted to CIE Lab on the model's device (batched, in float32).
    The network sees ``L - l_cent`` (the paper's centring, ``l_cent=50``), optionally
    divided by ``l_norm``; the ab channels are kept as the target. Images whose ab
    stays within ``gray_thresh`` everywhere are grayscale: the released training code
    zeroed their loss (they stay in the batch), the paper removed them from ImageNet.
    Each data sample receives:

    - ``gt_ab`` (Tensor): ab target of shape (2, H, W);
    - ``is_gray`` (bool): whether the image is grayscale.

    Args:
        channel_order (str): Channel order of the loaded images, ``'rgb'`` (colorssl's
            ``LoadRGBImage``) or ``'bgr'`` (mmcv's ``LoadImageFromFile``).
            Defaults to ``'rgb'``.
        l_cent (float): Subtracted from L. Defaults to 50.
        l_norm (float): L is divided by it after centring. Defaults to 1 (the paper
            feeds L - 50 unscaled).
        gray_thresh (float): An image is grayscale when no pixel has |a| or |b| above
            this value. Defaults to :data:`GRAY_THRESHOLD` (5, the released code).
        replicate_l (int): Number of times L is repeated along channels, for
            backbones that expect more than one input channel (e.g. 3 for an
            RGB-shaped stem fed gray images). Defaults to 1.
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
        """Images -> Lab.

        Args:
            images (Tensor | list[Tensor]): (N, 3, H, W) or N tensors (3, H, W),
                uint8 in [0, 255] or float in [0, 1], in ``channel_order``.

        Returns:
            Tensor: Lab of shape (N, 3, H, W), float32, on the model's device.
        """
        return images_to_lab(images, self.channel_order, self.device)

    def split_lab(self, lab: torch.Tensor):
        """Lab (N, 3, H, W) -> (network input (N, replicate_l, H, W),
        ab (N, 2, H, W), is_gray (N,) bool)."""
        inputs = (lab[:, :1] - self.l_cent) / self.l_norm
        if self.replicate_l > 1:
            inputs = inputs.expand(-1, self.replicate_l, -1, -1).contiguous()
        ab = lab[:, 1:]
        is_gray = gray_flags(ab, self.gray_thresh)
        return inputs, ab, is_gray

    def forward(self, data: dict, training: bool = False) -> dict:
        """Preprocess ``dict(inputs=..., data_samples=...)`` from the dataloader.

        Returns:
            dict: ``inputs`` the normalised L of shape (N, replicate_l, H, W);
            ``data_samples`` with ``gt_ab`` and ``is_gray`` set (created if absent).
        """
        lab = self.to_lab(data['inputs'])
        inputs, ab, is_gray = self.split_lab(lab)
        data_samples: Optional[List] = data.get('data_samples')
        if data_samples is None:
            from mmpretrain.structures import DataSample
            data_samples = [DataSample() for _ in range(lab.size(0))]
        for sample, sample_ab, gray in zip(data_samples, ab, is_gray.tolist()):
            sample.set_field(sample_ab, 'gt_ab')
            sample.set_field(gray, 'is_gray', field_type='metainfo')
        return dict(inputs=inputs, data_samples=data_samples)

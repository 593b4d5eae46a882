from .loading import LoadRGBImage, pil_to_rgb_array, read_rgb, skipped_image_count
from .rgb_to_gray import RGBToGray, lightness_gray

__all__ = [
    'LoadRGBImage', 'pil_to_rgb_array', 'read_rgb', 'skipped_image_count', 'RGBToGray',
    'lightness_gray'
]

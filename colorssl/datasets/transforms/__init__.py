from .loading import LoadRGBImage, pil_to_rgb_array, read_rgb
from .rgb_to_gray import RGBToGray, lightness_gray

__all__ = ['LoadRGBImage', 'pil_to_rgb_array', 'read_rgb', 'RGBToGray', 'lightness_gray']

from .loading import LoadRGBImage, pil_to_rgb_array, read_rgb

__all__ = ['LoadRGBImage', 'pil_to_rgb_array', 'read_rgb']

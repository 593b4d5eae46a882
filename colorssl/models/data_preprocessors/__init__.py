from .ab_histogram import ABHistogram, ab_histogram
from .colorization_data_preprocessor import (GRAY_THRESHOLD,
                                             ColorizationDataPreprocessor, gray_flags,
                                             images_to_lab)

__all__ = [
    'ColorizationDataPreprocessor', 'GRAY_THRESHOLD', 'images_to_lab', 'gray_flags',
    'ABHistogram', 'ab_histogram'
]

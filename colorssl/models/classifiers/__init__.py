from .hnc_image_classifier import HNCImageClassifier

__all__ = ['HNCImageClassifier']

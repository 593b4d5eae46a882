from .colorization_metric import ColorizationMetric  # noqa: F401
from .multi_layer_accuracy import MultiLayerAccuracy  # noqa: F401
from .negative_cam_metric import NegativeCAMMetric  # noqa: F401

from .colorization_head import ColorizationHead  # noqa: F401
from .hnc_linear_head import HNCLinearClsHead  # noqa: F401
from .hnc_multilabel_head import HNCMultiLabelLinearClsHead  # noqa: F401
from .multi_layer_linear_head import MultiLayerLinearClsHead  # noqa: F401

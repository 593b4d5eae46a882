from . import algorithms, backbones, data_preprocessors, heads, losses  # noqa: F401
from . import necks, transfer  # noqa: F401

from .colorization import Colorization  # noqa: F401

from . import algorithms, backbones, data_preprocessors, heads, losses, necks, transfer

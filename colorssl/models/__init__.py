from . import (algorithms, backbones, classifiers, data_preprocessors, heads, losses,
               necks, transfer)

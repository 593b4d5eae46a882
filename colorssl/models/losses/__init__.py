from .multinomial_color_loss import (MultinomialColorLoss, multinomial_color_loss,  # noqa: F401
                                     soft_target_nll)
from .hnc_loss import HNCLoss  # noqa: F401

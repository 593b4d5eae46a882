from .hnc_loss import HNCLoss
from .multinomial_color_loss import (MultinomialColorLoss, multinomial_color_loss,
                                     soft_target_nll)

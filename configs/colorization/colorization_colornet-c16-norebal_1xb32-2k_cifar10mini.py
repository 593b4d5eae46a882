# The same run without class rebalancing (plain multinomial cross-entropy): the
# paper's ablation that rebalancing gives more vivid colours.
_base_ = './colorization_colornet-c16_1xb32-2k_cifar10mini.py'

model = dict(head=dict(prior=None))

# The 10k-iteration cifar10-mini run without class rebalancing (plain multinomial
# cross-entropy), the partner of colorization_colornet-c16_1xb32-10k_cifar10mini.py.
_base_ = './colorization_colornet-c16_1xb32-10k_cifar10mini.py'

model = dict(head=dict(prior=None))

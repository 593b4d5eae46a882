# Baseline of the cifar10-mini comparison: the same model and schedule as
# hnc-kd_resnet18_1xb128-10e_cifar10mini.py with the classification loss only.
# The head is HNCLinearClsHead with hnc_loss=None (== LinearClsHead on a
# GlobalAveragePooling neck) so NegativeCAMMetric can report its CAMs.
_base_ = ['../_base_/hnc_resnet18_cifar10mini.py']

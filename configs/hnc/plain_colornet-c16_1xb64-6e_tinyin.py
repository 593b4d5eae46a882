# Baseline of the Tiny ImageNet HNC comparison: classification loss only, the
# same network, data, schedule and seed as the hnc-* configs beside it.
_base_ = ['../_base_/hnc_colornet-c16_tinyin.py']

model = dict(head=dict(hnc_loss=None))

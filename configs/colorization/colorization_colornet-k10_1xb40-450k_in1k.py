# As the released model was trained: 10 nearest bins in the soft encoding (the paper's
# 5 was called a typo by its author) and point-subsampled (stride 4) ab targets.
_base_ = './colorization_colornet_1xb40-450k_in1k.py'

model = dict(head=dict(num_neighbors=10, target_resize='nearest'))

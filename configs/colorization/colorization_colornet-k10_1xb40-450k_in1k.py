# As the released model was trained: 10 nearest bins in the soft encoding (the paper's
# 5 was called a typo by its author), ab targets point-subsampled with stride 4
# (pixels 0, 4, 8, ...), and the grayscale test (no |a| or |b| > 5) made on that
# subsampled target rather than on the full image.
_base_ = './colorization_colornet_1xb40-450k_in1k.py'

model = dict(head=dict(num_neighbors=10, target_resize='nearest', gray_test='target'))

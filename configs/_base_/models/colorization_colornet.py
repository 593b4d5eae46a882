# Colorful Image Colorization (Zhang, Isola, Efros, ECCV 2016): the paper's network
# (conv1..conv8, dilated conv5/conv6, output at 1/4 resolution) on the L channel.
custom_imports = dict(imports=['colorssl'], allow_failed_imports=False)

model = dict(
    type='Colorization',
    data_preprocessor=dict(
        type='ColorizationDataPreprocessor',
        channel_order='rgb',  # LoadRGBImage gives RGB
        l_cent=50.,  # the network sees L - 50 (paper and released code)
        gray_thresh=5.),  # released code: an image is gray if no |a|,|b| > 5
    backbone=dict(
        type='ColorizationNet', in_channels=1, base_channels=64, out_indices=(7, )),
    head=dict(
        type='ColorizationHead',
        in_channels=256,
        bins='original313',  # the released 313 ab bin centres (grid 10)
        # The colour prior of the rebalancing (paper Sec. 2.2), estimated from
        # prior_samples random training images by ColorPriorHook before training
        # (kept in checkpoints); or a prior .npz file, or None (no rebalancing).
        prior='auto',
        prior_samples=10000,
        rebalance_lambda=0.5,  # paper Sec. 2.2
        num_neighbors=5,  # paper; the released training layer used 10
        sigma=5.,  # soft-encoding Gaussian, paper Sec. 2.1
        temperature=0.38,  # annealed mean, paper Sec. 2.3
        pred_stride=4,
        loss=dict(type='MultinomialColorLoss', loss_weight=1.0)))

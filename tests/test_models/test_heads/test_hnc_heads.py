"""HNC heads: CAM maths, negative selection, losses, stats and checkpoints."""
import numpy as np
import pytest
import torch
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from torch.utils._python_dispatch import TorchDispatchMode

import colorssl  # noqa: F401  (registers the modules)
from colorssl.models.heads.cam import class_activation_maps, to_spatial_map
from colorssl.models.utils.hnc_mixin import NEG_CAM_STATS_FIELD, negative_cam_stats

torch.set_num_threads(1)


# ----------------------------------------------------------- numpy reference
def np_cams(fmap, weight, bias):
    """M[n, k, h, w] = sum_c W[k, c] f[n, c, h, w] + b[k], by explicit loops
    over classes."""
    n, c, h, w = fmap.shape
    out = np.zeros((n, weight.shape[0], h, w))
    for k in range(weight.shape[0]):
        out[:, k] = (fmap * weight[k][None, :, None, None]).sum(1) + bias[k]
    return out


def np_kd(cam_list):
    total = 0.0
    for cam in cam_list:
        z = cam.ravel()
        logp = z - z.max() - np.log(np.exp(z - z.max()).sum())
        total += -logp.mean()
    return total


def np_hnc_kd_loss(fmap, weight, bias, exclude, k):
    """Mean over samples of the kd loss on the top-k non-excluded classes."""
    return np_hnc_kd_loss_of_cams(np_cams(fmap, weight, bias), exclude, k)


def np_hnc_kd_loss_of_cams(cams, exclude, k):
    """The same from the CAMs of all classes, shape (N, K, H, W)."""
    logits = cams.mean(axis=(2, 3))
    losses = []
    for i in range(cams.shape[0]):
        order = [c for c in np.argsort(-logits[i]) if not exclude[i, c]][:k]
        losses.append(np_kd([cams[i, c] for c in order]))
    return np.mean(losses)


def tiny_head(head_type='HNCLinearClsHead', num_classes=7, in_channels=5, **kw):
    head = MODELS.build(
        dict(type=head_type, num_classes=num_classes, in_channels=in_channels, **kw))
    head.init_weights()
    with torch.no_grad():  # non-trivial weights and biases
        head.fc.weight.normal_(std=0.5)
        head.fc.bias.normal_(std=0.5)
    return head


def labelled(labels):
    return [DataSample().set_gt_label(label) for label in labels]


# -------------------------------------------------------------------- CAMs
def test_cam_mean_equals_logits():
    torch.manual_seed(0)
    head = tiny_head()
    fmap = torch.randn(3, 5, 4, 6)
    logits = head((fmap, ))
    cams = head.cams((fmap, ))
    assert cams.shape == (3, 7, 4, 6)
    torch.testing.assert_close(cams.mean(dim=(2, 3)), logits, atol=1e-5, rtol=1e-5)
    ref = np_cams(fmap.double().numpy(),
                  head.fc.weight.detach().double().numpy(),
                  head.fc.bias.detach().double().numpy())
    np.testing.assert_allclose(cams.detach().numpy(), ref, atol=1e-5)


def test_selected_cams_equal_gathered_full_cams():
    torch.manual_seed(1)
    fmap = torch.randn(2, 5, 3, 3)
    weight, bias = torch.randn(9, 5), torch.randn(9)
    idx = torch.tensor([[4, 0, 8], [1, 1, 7]])
    full = class_activation_maps(fmap, weight, bias)
    sel = class_activation_maps(fmap, weight, bias, idx)
    torch.testing.assert_close(sel, full[torch.arange(2)[:, None], idx])


def test_vit_tokens_to_map():
    tokens = torch.randn(2, 1 + 12, 4)
    with pytest.raises(ValueError, match='not a square patch grid'):
        to_spatial_map(tokens)
    tokens = torch.randn(2, 1 + 9, 4)
    fmap = to_spatial_map(tokens)
    assert fmap.shape == (2, 4, 3, 3)
    # row-major patch order, class token dropped
    torch.testing.assert_close(fmap[1, :, 2, 0], tokens[1, 1 + 2 * 3 + 0])
    torch.testing.assert_close(
        to_spatial_map(torch.randn(2, 2 + 4, 4), num_extra_tokens=2).shape,
        torch.Size([2, 4, 2, 2]))


def test_vit_raw_and_featmap_heads_agree():
    arch = dict(embed_dims=16, num_layers=1, num_heads=2, feedforward_channels=32)
    torch.manual_seed(2)
    models = {}
    for out_type in ('raw', 'featmap'):
        models[out_type] = MODELS.build(
            dict(
                type='ImageClassifier',
                backbone=dict(
                    type='VisionTransformer',
                    arch=arch,
                    img_size=32,
                    patch_size=8,
                    out_type=out_type),
                neck=None,
                head=dict(
                    type='HNCLinearClsHead',
                    num_classes=6,
                    in_channels=16,
                    hnc_loss=dict(type='HNCLoss', k=2))))
    models['featmap'].load_state_dict(models['raw'].state_dict())
    x = torch.randn(2, 3, 32, 32)
    for m in models.values():
        m.eval()
    out_raw = models['raw'](x)
    torch.testing.assert_close(out_raw, models['featmap'](x))
    feats = models['raw'].extract_feat(x)
    cams = models['raw'].head.cams(feats)
    assert cams.shape == (2, 6, 4, 4)
    torch.testing.assert_close(cams.mean((2, 3)), out_raw, atol=1e-5, rtol=1e-5)
    models['raw'].train()
    losses = models['raw'].loss(x, labelled([0, 5]))
    cams = models['raw'].head.cams(models['raw'].extract_feat(x))
    exclude = np.zeros((2, 6), bool)
    exclude[[0, 1], [0, 5]] = True
    ref = np_hnc_kd_loss_of_cams(cams.detach().double().numpy(), exclude, 2)
    np.testing.assert_allclose(losses['loss_hnc'].item(), ref, rtol=1e-5)


def test_pooled_feature_is_rejected():
    head = tiny_head(hnc_loss=dict(type='HNCLoss', k=2))
    with pytest.raises(ValueError, match=r'model\.neck=None'):
        head((torch.randn(2, 5), ))
    with pytest.raises(ValueError, match='GlobalAveragePooling'):
        head.loss((torch.randn(2, 5), ), labelled([0, 1]))


# -------------------------------------------------------------- build errors
@pytest.mark.parametrize('head_type',
                         ['HNCLinearClsHead', 'HNCMultiLabelLinearClsHead'])
def test_k_checked_at_build(head_type):
    with pytest.raises(ValueError, match=r'model\.head\.hnc_loss\.k=7'):
        MODELS.build(
            dict(
                type=head_type,
                num_classes=7,
                in_channels=5,
                hnc_loss=dict(type='HNCLoss', k=7)))
    with pytest.raises(ValueError, match='cam_stats_k'):
        MODELS.build(dict(type=head_type, num_classes=7, in_channels=5, cam_stats_k=7))


def test_label_out_of_range_at_first_step():
    head = tiny_head(hnc_loss=dict(type='HNCLoss', k=2))
    with pytest.raises(ValueError, match=r'label 9 .*model\.head\.num_classes'):
        head.loss((torch.randn(2, 5, 3, 3), ), labelled([1, 9]))
    ml = tiny_head('HNCMultiLabelLinearClsHead', hnc_loss=dict(type='HNCLoss', k=2))
    with pytest.raises(ValueError, match=r'model\.head\.num_classes'):
        ml.loss((torch.randn(2, 5, 3, 3), ), labelled([[1, 2], [8]]))


# ------------------------------------------------------------------- losses
def test_single_label_loss_matches_numpy():
    torch.manual_seed(3)
    head = tiny_head(hnc_loss=dict(type='HNCLoss', k=3, loss_weight=0.3))
    fmap = torch.randn(4, 5, 3, 4)
    labels = [0, 6, 2, 2]
    losses = head.loss((fmap, ), labelled(labels))
    exclude = np.zeros((4, 7), bool)
    exclude[np.arange(4), labels] = True
    ref = np_hnc_kd_loss(fmap.double().numpy(),
                         head.fc.weight.detach().double().numpy(),
                         head.fc.bias.detach().double().numpy(), exclude, 3)
    np.testing.assert_allclose(losses['loss_hnc'].item(), 0.3 * ref, rtol=1e-5)
    ce = torch.nn.functional.cross_entropy(head((fmap, )), torch.tensor(labels))
    torch.testing.assert_close(losses['loss'], ce)
    assert 0 <= losses['hnc_neg_pos_share'].item() <= 1


def test_soft_label_loss_excludes_mixed_classes():
    torch.manual_seed(4)
    head = tiny_head(hnc_loss=dict(type='HNCLoss', k=2))
    fmap = torch.randn(2, 5, 3, 3)
    scores = np.array([[0.6, 0, 0, 0.4, 0, 0, 0], [0, 0, 0.5, 0, 0, 0.5, 0]],
                      np.float32)
    samples = [DataSample().set_gt_score(torch.from_numpy(s)) for s in scores]
    losses = head.loss((fmap, ), samples)
    ref = np_hnc_kd_loss(fmap.double().numpy(),
                         head.fc.weight.detach().double().numpy(),
                         head.fc.bias.detach().double().numpy(), scores != 0, 2)
    np.testing.assert_allclose(losses['loss_hnc'].item(), ref, rtol=1e-5)


def test_multi_label_loss_excludes_positives_and_difficult():
    torch.manual_seed(5)
    head = tiny_head(
        'HNCMultiLabelLinearClsHead', hnc_loss=dict(type='HNCLoss', k=2, mode='kd'))
    fmap = torch.randn(2, 5, 3, 3)
    samples = labelled([[0, 3], [6]])
    samples[1].set_metainfo(dict(gt_label_difficult=[1, 2]))
    losses = head.loss((fmap, ), samples)
    exclude = np.zeros((2, 7), bool)
    exclude[0, [0, 3]] = True
    exclude[1, [6, 1, 2]] = True
    ref = np_hnc_kd_loss(fmap.double().numpy(),
                         head.fc.weight.detach().double().numpy(),
                         head.fc.bias.detach().double().numpy(), exclude, 2)
    np.testing.assert_allclose(losses['loss_hnc'].item(), ref, rtol=1e-5)
    # classification part is the stock BCE on the multi-hot target
    target = torch.zeros(2, 7)
    target[0, [0, 3]] = 1
    target[1, 6] = 1
    bce = torch.nn.functional.binary_cross_entropy_with_logits(
        head((fmap, )), target, reduction='sum') / 2
    torch.testing.assert_close(losses['loss'], bce)


class _LargestTensor(TorchDispatchMode):
    """Records the largest tensor any aten op produces (forward or backward)."""

    def __init__(self):
        super().__init__()
        self.largest = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in (out if isinstance(out, (tuple, list)) else (out, )):
            if isinstance(t, torch.Tensor):
                self.largest = max(self.largest, t.numel())
        return out


def test_only_selected_cams_are_built():
    """K=200 classes, k=3: neither forward nor backward of the head's losses
    creates a tensor as large as the K CAMs, and only the selected fc rows
    receive HNC gradients."""
    torch.manual_seed(6)
    n, c, h, w, num_classes = 2, 8, 4, 4, 200
    head = tiny_head(
        num_classes=num_classes, in_channels=c, hnc_loss=dict(type='HNCLoss', k=3))
    fmap = torch.randn(n, c, h, w)
    recorder = _LargestTensor()
    with recorder:
        losses = head.loss((fmap, ), labelled([0, 0]))
        grad, = torch.autograd.grad(losses['loss_hnc'], head.fc.weight)
    all_cams = n * num_classes * h * w
    assert recorder.largest < all_cams / 2, recorder.largest
    rows = grad.abs().sum(1) > 0
    logits = np_cams(fmap.double().numpy(),
                     head.fc.weight.detach().double().numpy(),
                     head.fc.bias.detach().double().numpy()).mean((2, 3))
    expected = np.zeros(num_classes, bool)
    for i in range(n):
        expected[[cls for cls in np.argsort(-logits[i]) if cls != 0][:3]] = True
    np.testing.assert_array_equal(rows.numpy(), expected)


@pytest.mark.parametrize('head_type, num_classes', [('HNCLinearClsHead', 10),
                                                    ('HNCMultiLabelLinearClsHead', 6)])
def test_losses_of_a_zero_classifier(head_type, num_classes):
    """With ``fc`` all zero every logit and every CAM is 0: the cross-entropy is
    ln(K), the BCE K ln 2 (summed over classes, averaged over samples) and
    the kd term k ln(HW), its minimum (constant CAMs)."""
    k, h, w = 3, 4, 5
    head = MODELS.build(
        dict(
            type=head_type,
            num_classes=num_classes,
            in_channels=6,
            hnc_loss=dict(type='HNCLoss', k=k)))
    with torch.no_grad():
        head.fc.weight.zero_()
        head.fc.bias.zero_()
    labels = [[1], [4]] if head_type == 'HNCMultiLabelLinearClsHead' else [1, 4]
    losses = head.loss((torch.randn(2, 6, h, w), ), labelled(labels))
    if head_type == 'HNCLinearClsHead':
        expected = np.log(num_classes)
    else:
        expected = num_classes * np.log(2)
    np.testing.assert_allclose(losses['loss'].item(), expected, rtol=1e-6)
    np.testing.assert_allclose(losses['loss_hnc'].item(), k * np.log(h * w), rtol=1e-6)


@pytest.mark.parametrize('mode', ['kd', 'mse'])
def test_two_halves_give_the_full_batch_gradient(mode):
    """What DDP computes: two ranks at batch B, each averaging over its own
    samples, then the mean of their gradients, equals one process at 2B (no
    per-batch quantity enters the HNC term)."""
    torch.manual_seed(9)
    head = tiny_head(num_classes=9, hnc_loss=dict(type='HNCLoss', k=3, mode=mode))
    fmap = torch.randn(6, 5, 3, 4)
    labels = [0, 3, 8, 3, 1, 5]

    def grad_of(rows):
        loss = head.loss((fmap[rows], ), labelled([labels[i] for i in rows]))
        return torch.autograd.grad(loss['loss_hnc'], head.fc.weight)[0]

    full = grad_of([0, 1, 2, 3, 4, 5])
    ranks = (grad_of([0, 1, 2]) + grad_of([3, 4, 5])) / 2
    torch.testing.assert_close(ranks, full)


# ---------------------------------------------------------- predict + stats
def test_predict_stores_stats_matching_numpy():
    torch.manual_seed(7)
    head = tiny_head(cam_stats_k=2)
    fmap = torch.randn(3, 5, 4, 4)
    labels = [1, 4, 6]
    preds = head.predict((fmap, ), labelled(labels))
    cams = np_cams(fmap.double().numpy(),
                   head.fc.weight.detach().double().numpy(),
                   head.fc.bias.detach().double().numpy())
    logits = cams.mean((2, 3))
    for i, label in enumerate(labels):
        negs = [c for c in np.argsort(-logits[i]) if c != label][:2]
        stats = preds[i].get(NEG_CAM_STATS_FIELD)
        contrast = [cams[i, c].max() - cams[i, c].mean() for c in negs]
        np.testing.assert_allclose(
            stats['neg_contrast'], max(contrast), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(
            stats['tgt_contrast'],
            cams[i, label].max() - cams[i, label].mean(),
            rtol=1e-4,
            atol=1e-5)
        np.testing.assert_allclose(
            stats['neg_peak'],
            max(cams[i, c].max() for c in negs),
            rtol=1e-4,
            atol=1e-5)
        np.testing.assert_allclose(
            stats['tgt_peak'], cams[i, label].max(), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(
            stats['pos_share'],
            np.mean([(cams[i, c] > 0).mean() for c in negs]),
            atol=1e-6)
    # predictions themselves are the stock ones
    np.testing.assert_allclose(
        torch.stack([p.pred_score for p in preds]).detach().numpy(),
        torch.softmax(head((fmap, )), 1).detach().numpy(),
        atol=1e-6)
    # without ground truth: plain predictions, no statistics
    bare = head.predict((fmap, ))
    assert NEG_CAM_STATS_FIELD not in bare[0]


def test_negative_cam_stats_multi_label_nan_without_positives():
    fmap = torch.randn(2, 3, 2, 2)
    weight, bias = torch.randn(4, 3), torch.zeros(4)
    positive = torch.tensor([[True, False, False, False], [False, False, False, False]])
    stats = negative_cam_stats(
        class_activation_maps(fmap, weight, bias), torch.randn(2, 4), positive,
        positive, 2)
    cams = np_cams(fmap.double().numpy(),
                   weight.double().numpy(),
                   bias.double().numpy())
    np.testing.assert_allclose(
        stats['tgt_contrast'][0].item(),
        cams[0, 0].max() - cams[0, 0].mean(),
        rtol=1e-5,
        atol=1e-6)
    assert np.isnan(stats['tgt_contrast'][1].item())


# -------------------------------------------------------------- checkpoints
def _pair(multi_label):
    stock_head = 'MultiLabelLinearClsHead' if multi_label else 'LinearClsHead'
    hnc_head = ('HNCMultiLabelLinearClsHead' if multi_label else 'HNCLinearClsHead')
    backbone = dict(
        type='ResNet_CIFAR',
        depth=18,
        num_stages=2,
        strides=(1, 2),
        dilations=(1, 1),
        out_indices=(1, ),
        stem_channels=8,
        base_channels=8)
    stock = MODELS.build(
        dict(
            type='ImageClassifier',
            backbone=backbone,
            neck=dict(type='GlobalAveragePooling'),
            head=dict(type=stock_head, num_classes=5, in_channels=16)))
    hnc = MODELS.build(
        dict(
            type='ImageClassifier',
            backbone=backbone,
            neck=None,
            head=dict(
                type=hnc_head,
                num_classes=5,
                in_channels=16,
                hnc_loss=dict(type='HNCLoss', k=2))))
    return stock, hnc


@pytest.mark.parametrize('multi_label', [False, True])
def test_checkpoints_load_both_ways(multi_label, tmp_path):
    torch.manual_seed(8)
    stock, hnc = _pair(multi_label)
    stock.init_weights()
    x = torch.randn(2, 3, 16, 16)
    # stock -> HNC, through a saved file as a user would
    torch.save(stock.state_dict(), tmp_path / 'stock.pth')
    hnc.load_state_dict(torch.load(tmp_path / 'stock.pth'), strict=True)
    stock.eval()
    hnc.eval()
    torch.testing.assert_close(hnc(x), stock(x))
    torch.testing.assert_close(
        hnc.extract_feat(x, stage='pre_logits'),
        stock.extract_feat(x, stage='pre_logits'))
    # HNC -> stock, after changing the HNC weights
    with torch.no_grad():
        hnc.head.fc.weight.add_(1.0)
        hnc.backbone.conv1.weight.mul_(0.5)
    assert set(hnc.state_dict()) == set(stock.state_dict())
    stock.load_state_dict(hnc.state_dict(), strict=True)
    torch.testing.assert_close(stock(x), hnc(x))

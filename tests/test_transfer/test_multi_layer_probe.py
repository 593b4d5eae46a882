"""Per-layer linear probes: MultiLayerAvgPool, MultiLayerLinearClsHead,
MultiLayerAccuracy."""
import numpy as np
import pytest
import torch
from mmpretrain.structures import DataSample

from colorssl.evaluation.metrics import MultiLayerAccuracy
from colorssl.models.heads import MultiLayerLinearClsHead
from colorssl.models.necks import MultiLayerAvgPool


def test_sizes_for_the_paper_network():
    assert MultiLayerAvgPool.sizes_for((64, 128, 256, 512, 512)) == (12, 8, 6, 4, 4)
    dims = [c * s * s for c, s in zip((64, 128, 256, 512, 512), (12, 8, 6, 4, 4))]
    assert dims == [9216, 8192, 9216, 8192, 8192]


def test_pool_matches_block_means():
    x1 = torch.randn(2, 3, 12, 12)
    x2 = torch.randn(2, 5, 8, 8)
    out = MultiLayerAvgPool((4, 2))((x1, x2))
    ref1 = x1.numpy().reshape(2, 3, 4, 3, 4, 3).mean((3, 5)).reshape(2, -1)
    ref2 = x2.numpy().reshape(2, 5, 2, 4, 2, 4).mean((3, 5)).reshape(2, -1)
    np.testing.assert_allclose(out[0].numpy(), ref1, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out[1].numpy(), ref2, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match='got 2 feature maps but 3 output_sizes'):
        MultiLayerAvgPool((1, 2, 3))((x1, x2))
    with pytest.raises(ValueError, match='positive ints'):
        MultiLayerAvgPool((0, 2))


def _samples(labels):
    return [DataSample().set_gt_label(int(y)) for y in labels]


def np_log_softmax(z):
    z = z - z.max(1, keepdims=True)
    return z - np.log(np.exp(z).sum(1, keepdims=True))


def test_head_loss_is_sum_of_independent_cross_entropies():
    torch.manual_seed(0)
    head = MultiLayerLinearClsHead(num_classes=4, in_channels=[6, 3], with_norm=False)
    head.init_weights()
    feats = (torch.randn(5, 6), torch.randn(5, 3))
    labels = np.array([0, 3, 1, 1, 2])
    losses = head.loss(feats, _samples(labels))
    assert set(losses) == {'loss_conv1', 'loss_conv2'}
    for i, name in enumerate(['conv1', 'conv2']):
        fc = head.fcs[i]
        weight, bias = fc.weight.detach().numpy(), fc.bias.detach().numpy()
        logits = feats[i].numpy() @ weight.T + bias
        ref = -np_log_softmax(logits)[np.arange(5), labels].mean()
        assert losses[f'loss_{name}'].item() == pytest.approx(ref, rel=1e-5)
    # the classifiers are independent: conv1's loss gives no gradient to conv2's
    losses['loss_conv1'].backward()
    assert head.fcs[1].weight.grad is None
    # d(mean CE)/dW = (softmax - onehot)^T x / N
    fc = head.fcs[0]
    x = feats[0].double().numpy()
    logits = x @ fc.weight.detach().double().numpy().T + fc.bias.detach().numpy()
    onehot = np.eye(4)[labels]
    ref_grad = (np.exp(np_log_softmax(logits)) - onehot).T @ x / 5
    np.testing.assert_allclose(fc.weight.grad.numpy(), ref_grad, rtol=1e-4, atol=1e-6)


def test_head_norm_and_predict_fields():
    head = MultiLayerLinearClsHead(
        num_classes=3, in_channels=[4, 4], layer_names=['a', 'b'], eval_layer='a')
    assert not head.norms[0].affine
    head.eval()
    feats = (torch.randn(2, 4), torch.randn(2, 4))
    out = head.predict(feats, _samples([0, 1]))
    logits = head(feats)
    torch.testing.assert_close(out[0].pred_score, logits[0][0].softmax(0))
    assert out[1].layer_scores.shape == (2, 3)
    assert out[0].layer_names == ['a', 'b']
    assert int(out[0].pred_label) == int(logits[0][0].argmax())


def test_head_errors():
    with pytest.raises(ValueError, match='layer_names must be 2 distinct names'):
        MultiLayerLinearClsHead(3, [4, 4], layer_names=['a', 'a'])
    with pytest.raises(ValueError, match="eval_layer 'z' is not in layer_names"):
        MultiLayerLinearClsHead(3, [4, 4], eval_layer='z')
    head = MultiLayerLinearClsHead(3, [4, 5])
    with pytest.raises(ValueError, match=r'expects features \(N, 5\), got \(2, 4\)'):
        head((torch.randn(2, 4), torch.randn(2, 4)))
    with pytest.raises(ValueError, match='has 2 classifiers'):
        head((torch.randn(2, 4), ))


def test_metric_against_brute_force():
    rng = np.random.default_rng(0)
    n, layers, k = 40, 3, 6
    scores = rng.random((n, layers, k))
    labels = rng.integers(0, k, n)
    metric = MultiLayerAccuracy(topk=(1, 3))
    metric.process(None, [
        dict(
            layer_scores=torch.tensor(s),
            gt_label=torch.tensor([y]),
            layer_names=['c1', 'c2', 'c3']) for s, y in zip(scores, labels)
    ])
    result = metric.compute_metrics(metric.results)
    for li, name in enumerate(['c1', 'c2', 'c3']):
        ranks = (scores[:, li] > scores[np.arange(n), li, labels][:, None]).sum(1)
        assert result[f'{name}/top1'] == pytest.approx(100 * np.mean(ranks < 1))
        assert result[f'{name}/top3'] == pytest.approx(100 * np.mean(ranks < 3))
    assert result['best/top1'] == max(result[f'{n}/top1'] for n in ['c1', 'c2', 'c3'])
    with pytest.raises(KeyError, match='MultiLayerLinearClsHead'):
        MultiLayerAccuracy().process(None, [dict(pred_score=torch.zeros(3))])

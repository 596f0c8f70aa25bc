"""The model contract and the NumPy oracle it is checked against."""

from __future__ import annotations

import numpy as np
import pytest

from bench import reference
from bench.specs import LENET, MLP, MODELS, get_spec


def test_parameter_counts_are_the_published_ones():
    assert LENET.num_params() == 61_706
    assert MLP.num_params() == 203_530


def test_flops_follow_the_stated_formula():
    # LeNet forward: conv1 2*6*28*28*1*25, conv2 2*16*10*10*6*25, dense 2*(400*120 + 120*84 + 84*10)
    forward = 2 * 6 * 28 * 28 * 25 + 2 * 16 * 10 * 10 * 6 * 25 + 2 * (400 * 120 + 120 * 84 + 84 * 10)
    assert LENET.forward_flops() == forward == 833_040
    assert LENET.train_flops() == 3 * forward - 2 * 6 * 28 * 28 * 25  # no gradient w.r.t. the images
    assert MLP.train_flops() == 3 * 2 * (784 * 256 + 256 * 10) - 2 * 784 * 256 == 818_176


def test_hyperparameters_are_d2ls():
    assert (LENET.lr, LENET.batch_size, LENET.epochs) == (0.9, 256, 10)
    assert (MLP.lr, MLP.batch_size, MLP.epochs) == (0.1, 256, 10)


def test_unknown_model_names_the_valid_ones():
    with pytest.raises(ValueError, match="unknown model 'alexnet'; choose one of: lenet, mlp"):
        get_spec("alexnet")


@pytest.mark.parametrize("spec", MODELS.values(), ids=lambda s: s.name)
def test_initial_weights_are_seeded_and_canonical(spec):
    a, b, c = spec.initial_weights(0), spec.initial_weights(0), spec.initial_weights(1)
    assert {k: v.shape for k, v in a.items()} == spec.weight_shapes()
    for name in a:
        assert a[name].dtype == np.float32
        np.testing.assert_array_equal(a[name], b[name])
        if name.endswith(".bias"):
            assert not a[name].any()
        else:
            assert not np.array_equal(a[name], c[name])


def test_lenet_init_is_xavier_uniform_and_mlp_is_normal():
    w = LENET.initial_weights(0)["conv2.weight"]  # fan_in 6*25, fan_out 16*25
    bound = np.sqrt(6 / (150 + 400))
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.95 * bound
    m = MLP.initial_weights(0)["fc1.weight"]
    assert abs(m.std() - 0.01) < 0.0005 and abs(m.mean()) < 0.0005


def _finite_difference_check(spec, n_checks=6, eps=1e-6):
    rng = np.random.default_rng(0)
    weights = {k: v.astype(np.float64) for k, v in spec.initial_weights(0).items()}
    for k in weights:  # non-zero biases so their gradients are exercised too
        weights[k] = weights[k] + rng.normal(0, 0.05, weights[k].shape)
    images = rng.random((4, 1, 28, 28))
    labels = np.array([0, 3, 7, 9])
    _, _, grads = reference.loss_and_grads(spec, weights, images, labels)
    for name, value in weights.items():
        for _ in range(n_checks):
            idx = tuple(rng.integers(0, s) for s in value.shape)
            plus = {k: v.copy() for k, v in weights.items()}
            minus = {k: v.copy() for k, v in weights.items()}
            plus[name][idx] += eps
            minus[name][idx] -= eps
            numeric = (
                reference.loss_and_grads(spec, plus, images, labels)[0]
                - reference.loss_and_grads(spec, minus, images, labels)[0]
            ) / (2 * eps)
            assert grads[name][idx] == pytest.approx(numeric, rel=1e-4, abs=1e-8), (name, idx)


@pytest.mark.parametrize("spec", MODELS.values(), ids=lambda s: s.name)
def test_oracle_gradients_match_finite_differences(spec):
    _finite_difference_check(spec)


def test_oracle_logits_shape_and_loss_at_uniform_prediction():
    weights = {k: np.zeros_like(v) for k, v in MLP.initial_weights(0).items()}
    logits, _ = reference.forward(MLP, weights, np.zeros((5, 1, 28, 28)))
    assert logits.shape == (5, 10)
    loss, grad = reference.softmax_cross_entropy(logits, np.arange(5))
    assert loss == pytest.approx(np.log(10))
    assert grad.sum() == pytest.approx(0.0)


def test_sgd_step_moves_against_the_gradient_and_reduces_loss():
    rng = np.random.default_rng(1)
    images, labels = rng.random((16, 1, 28, 28)), rng.integers(0, 10, 16)
    weights = MLP.initial_weights(0)
    loss0, after = reference.sgd_step(MLP, weights, images, labels, lr=0.1)
    loss1, _ = reference.sgd_step(MLP, after, images, labels, lr=0.1)
    assert loss1 < loss0

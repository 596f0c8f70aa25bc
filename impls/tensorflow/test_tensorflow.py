"""TensorFlow-specific tests: layout translation, sync, retracing (the generic ones: tests/conformance)."""

from __future__ import annotations

import os

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.python.eager import context

from bench import reference
from bench.contract import Unsupported
from bench.specs import LENET, MLP
from impls.tensorflow import KerasFramework, flatten_shapes, from_keras, to_keras


@pytest.fixture(scope="module")
def framework() -> KerasFramework:
    return KerasFramework(threads=os.cpu_count() or 1)


def test_flatten_translation_maps_chw_to_keras_hwc_order():
    """A canonical fc1 applied to a C*H*W flatten equals its Keras kernel applied to an H*W*C flatten."""
    assert flatten_shapes(LENET) == {"fc1": (16, 5, 5)} and flatten_shapes(MLP) == {}
    rng = np.random.default_rng(0)
    weight = rng.standard_normal((120, 400))  # float64: the check is about order, not rounding
    feature_map = rng.standard_normal((16, 5, 5))  # C x H x W
    kernel = to_keras(weight, (16, 5, 5))
    np.testing.assert_allclose(
        feature_map.transpose(1, 2, 0).reshape(-1) @ kernel, weight @ feature_map.reshape(-1), rtol=1e-12
    )
    np.testing.assert_array_equal(from_keras(kernel, (16, 5, 5)), weight)


def test_lenet_logits_match_oracle_on_an_asymmetric_fc1(framework):
    """fc1 weights differing per (c, h, w) position: a wrong flatten order cannot hide."""
    model = framework.build(LENET, "cpu", "eager")
    weights = LENET.initial_weights(seed=5)
    weights["fc1.weight"] = weights["fc1.weight"] * np.linspace(0.5, 2.0, 400, dtype=np.float32)
    model.set_weights(weights)
    for name, value in model.get_weights().items():
        np.testing.assert_array_equal(value, weights[name], err_msg=name)
    images = np.random.default_rng(1).random((8, 1, 28, 28), dtype=np.float32)
    expected, _ = reference.forward(LENET, weights, images)
    np.testing.assert_allclose(model.logits(model.put(images, np.zeros(8, np.int64))), expected, atol=1e-4)


def test_sync_drains_queued_work(framework):
    """Under async eager execution an op's error surfaces only when someone waits: sync() must."""
    model = framework.build(MLP, "cpu", framework.MODES[0])
    raised_in_sync = False
    # tf.experimental.async_scope only affects remote execution; this is the local async executor.
    with context.execution_mode(context.ASYNC):
        tf.gather(tf.zeros(3), tf.constant([7]))  # out of range: fails when it runs, not when queued
        try:
            model.sync()
        except tf.errors.InvalidArgumentError:
            raised_in_sync = True
        context.async_clear_error()
    assert raised_in_sync, "sync() returned before the queued op had run"


@pytest.mark.parametrize("mode", KerasFramework.MODES[:2])
def test_train_step_is_not_retraced_per_epoch(framework, mode):
    model = framework.build(MLP, "cpu", mode)
    images = np.random.default_rng(2).random((40, 1, 28, 28), dtype=np.float32)
    data = model.put(images, np.arange(40, dtype=np.int64) % 10)
    for epoch in range(3):
        model.train_epoch(data, np.random.default_rng(epoch).permutation(40), batch_size=16, lr=0.1)
    assert model._train_step.experimental_get_tracing_count() <= 2  # full batches + the smaller last one


def test_gpu_without_one_is_unsupported_with_a_reason(framework):
    if tf.config.list_physical_devices("GPU"):
        pytest.skip("a GPU is visible")
    assert framework.devices() == ["cpu"]
    with pytest.raises(Unsupported, match="no GPU visible to TensorFlow"):
        framework.build(MLP, "gpu", framework.MODES[0])

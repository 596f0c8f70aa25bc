"""TensorFlow-specific tests: layout translation, sync, retracing, the tf.data pipeline, device
selection and precision (the generic ones: tests/conformance)."""

from __future__ import annotations

import os

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.python.eager import context

from bench import reference
from bench.contract import NativeSource, Unsupported
from bench.layouts import flatten_shapes
from bench.layouts import from_channels_last as from_keras
from bench.layouts import to_channels_last as to_keras
from bench.loops import LoopArgs
from bench.specs import LENET, MLP
from impls.tensorflow import KerasModel, TensorflowFramework, runtime


@pytest.fixture(scope="module")
def framework() -> TensorflowFramework:
    return TensorflowFramework(threads=os.cpu_count() or 1)


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


@pytest.mark.parametrize("mode", TensorflowFramework.MODES[:2])
def test_train_step_is_not_retraced_per_epoch(framework, mode):
    model = framework.build(MLP, "cpu", mode)
    images = np.random.default_rng(2).random((40, 1, 28, 28), dtype=np.float32)
    data = model.put(images, np.arange(40, dtype=np.int64) % 10)
    for epoch in range(3):
        model.train_epoch(data, np.random.default_rng(epoch).permutation(40), batch_size=16, lr=0.1)
    assert model._train_step.experimental_get_tracing_count() <= 2  # full batches + the smaller last one
    source = native_source(n=40)
    pipeline = model.native_input(source)
    for epoch in range(3):
        model.train_epoch(pipeline, np.random.default_rng(epoch).permutation(40), batch_size=16, lr=0.1)
    assert model._batch_step.experimental_get_tracing_count() <= 2


def test_epoch_function_runs_the_full_batches_in_one_traced_call(framework):
    model = framework.build(MLP, "cpu", "epoch-function")
    images = np.random.default_rng(2).random((40, 1, 28, 28), dtype=np.float32)
    data = model.put(images, np.arange(40, dtype=np.int64) % 10)
    calls = []
    step = model._train_step
    model._train_step = lambda *args: calls.append(int(args[2].shape[0])) or step(*args)
    for epoch in range(3):
        model.train_epoch(data, np.random.default_rng(epoch).permutation(40), batch_size=16, lr=0.1)
    assert calls == [8, 8, 8]  # 40 = 2 x 16 in the loop + 8 as the function step, each epoch
    assert model._epoch_step.experimental_get_tracing_count() == 1  # lr and the order are data
    full = model.put(images[:32], np.arange(32, dtype=np.int64) % 10)  # no remainder: no step call
    model.train_epoch(full, np.arange(32), batch_size=16, lr=0.1)
    assert calls == [8, 8, 8]


def test_gpu_without_one_is_unsupported_with_a_reason(framework):
    if tf.config.list_physical_devices("GPU"):
        pytest.skip("a GPU is visible")
    assert framework.devices() == ["cpu"]
    with pytest.raises(Unsupported, match="no GPU visible to tensorflow") as raised:
        framework.build(MLP, "gpu", framework.MODES[0])
    assert framework.device_name("cpu") == "cpu"
    if not tf.test.is_built_with_cuda():  # this environment: tensorflow-cpu from requirements.txt
        assert "a CPU-only build" in str(raised.value)
        assert "`tensorflow[and-cuda]==2.21.*` (impls/tensorflow/requirements-gpu.txt)" in str(raised.value)


def test_no_gpu_reasons_name_what_is_missing_and_what_to_install():
    version = "2.21.0"
    cpu_build = runtime.no_gpu_reason("tensorflow-cpu", version, cuda_version=None, nvidia_gpu_present=False)
    assert cpu_build == (
        "no GPU visible to tensorflow-cpu 2.21 (a CPU-only build); on a CUDA machine, install "
        "`tensorflow[and-cuda]==2.21.*` (impls/tensorflow/requirements-gpu.txt)"
    )
    cpu_build_on_gpu = runtime.no_gpu_reason("tensorflow-cpu", version, None, nvidia_gpu_present=True)
    assert "this machine has an NVIDIA GPU, install `tensorflow[and-cuda]==2.21.*`" in cpu_build_on_gpu
    no_driver = runtime.no_gpu_reason("tensorflow", version, "12.5.1", nvidia_gpu_present=False)
    assert "a CUDA 12.5.1 build" in no_driver and "no NVIDIA driver (nvidia-smi not found)" in no_driver
    no_libraries = runtime.no_gpu_reason("tensorflow", version, "12.5.1", nvidia_gpu_present=True)
    assert "no usable CUDA/cuDNN libraries" in no_libraries and "tensorflow[and-cuda]==2.21.*" in no_libraries
    assert runtime.gpu_requirement() == "tensorflow[and-cuda]==2.21.*"


def test_installed_distribution_is_named(framework):
    """The requirements.txt pin (tensorflow-cpu) is what the reason names; no GPU build is there."""
    assert runtime.distribution() in runtime.TF_DISTRIBUTIONS
    if not tf.test.is_built_with_cuda():
        assert runtime.distribution() == "tensorflow-cpu"


def test_a_visible_gpu_is_selected(framework, monkeypatch):
    """Device selection when TF lists a GPU, checked without one (nothing is built on it)."""
    fake = [tf.config.PhysicalDevice(name="/physical_device:GPU:0", device_type="GPU")]
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: fake if kind == "GPU" else [])
    assert framework.devices() == ["cpu", "gpu"]
    assert framework._check_device("gpu") == "/GPU:0"
    assert framework._check_device("cpu") == "/CPU:0"
    with pytest.raises(Unsupported, match="unknown device 'tpu'"):
        framework._check_device("tpu")


def test_precision_tf32_is_gpu_only_and_build_sets_the_switch(framework):
    with pytest.raises(Unsupported, match="tf32"):
        framework.build(MLP, "cpu", framework.MODES[0], precision="tf32")
    with pytest.raises(Unsupported, match="tf32"):
        framework.settings("cpu", framework.MODES[0], precision="tf32")
    with pytest.raises(Unsupported, match="precision"):
        framework.build(MLP, "cpu", framework.MODES[0], precision="bf16")
    tf.config.experimental.enable_tensor_float_32_execution(True)  # as a tf32 build elsewhere would
    try:
        framework.build(MLP, "cpu", framework.MODES[0], precision="fp32")
        settings = framework.settings("cpu", framework.MODES[0])
        assert settings["precision"] == "fp32" and settings["tf32"] is False
    finally:
        tf.config.experimental.enable_tensor_float_32_execution(False)


def native_source(n=70, workers=0):
    """Synthetic uint8 images holding every pixel value 0..255 (a unit-test input, not data)."""
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    images[0].flat[:256] = np.arange(256)
    labels = rng.integers(0, 10, size=n).astype(np.int64)
    return NativeSource(images=images, labels=labels, data_dir="", split="train", workers=workers)


def test_plain_baseline_trains_and_times_epochs(framework, monkeypatch):
    """plain_epochs (model.fit) takes one SGD step per batch of each epoch, moves the weights, and
    yields one positive time per epoch."""
    from impls.tensorflow import baseline

    built = []

    def capturing_model(*args, **kwargs):
        built.append(KerasModel(*args, **kwargs))
        return built[-1]

    monkeypatch.setattr(baseline, "KerasModel", capturing_model)
    rng = np.random.default_rng(0)
    images = rng.random((300, 1, 28, 28), dtype=np.float32)
    labels = rng.integers(0, 10, size=300).astype(np.int64)
    weights = MLP.initial_weights(0)
    epochs = baseline.plain_epochs(LoopArgs(MLP, weights, images, labels, 128, MLP.lr))
    for epoch in (1, 2):
        assert next(epochs) > 0
        (model,) = built
        assert int(model.net.optimizer.iterations.numpy()) == 3 * epoch  # 128 + 128 + 44 per epoch
    assert not np.allclose(model.get_weights()["fc1.weight"], weights["fc1.weight"])  # SGD moved them


def test_every_mode_has_a_skilled_loop():
    """Every mode runs on a CPU, so each has a skilled loop (an unknown mode's refusal, and the line
    of each CPU mode: tests/conformance/test_reference_loops.py)."""
    from impls.tensorflow import baseline

    assert list(baseline.SKILLED) == list(TensorflowFramework.MODES)  # all run on a CPU

"""The native input path (``Model.native_input``/``native_batches``), for every framework that has one.

On a slice of the real, verified Fashion-MNIST (``bench.data.load``): the framework's own pipeline
must feed exactly the tensors and labels the device path would (``images[order[i:i+b]]`` / 255 for
every pixel value 0..255, int64 labels, in the harness's order, short last batch kept, a new order
each epoch), and one epoch from either input must end with the same statistics and bit-identical
weights on the CPU, in every mode. A model without ``native_input`` is skipped with the reason.
"""

from __future__ import annotations

import numpy as np
import pytest
from framework_fixtures import build

from bench import data
from bench.contract import NativeSource, Unsupported
from bench.specs import MODELS

N = 300  # a few hundred examples: fast, and 300 % 128 and 300 % 64 leave a short last batch


@pytest.fixture(scope="module")
def fashion():
    """The first N training examples of the verified data set (never synthetic)."""
    try:
        dataset = data.load(allow_download=False)
    except data.DataError as exc:
        pytest.skip(str(exc))
    return dataset.train_images[:N], dataset.train_labels[:N], dataset.source


def native_model(framework, spec, mode=None):
    model = build(framework, spec, "cpu", mode)
    if not hasattr(model, "native_input"):
        pytest.skip(f"{framework.NAME} has no native input path (Model.native_input)")
    return model


def open_pipeline(model, source: NativeSource):
    """``model.native_input(source)``, or a skip with the framework's reason when its loader's
    package is missing in this environment (e.g. grain on the lent GPU machine)."""
    try:
        return model.native_input(source)
    except Unsupported as exc:
        pytest.skip(str(exc))


def source(fashion, workers: int) -> NativeSource:
    images, labels, data_dir = fashion
    return NativeSource(images=images, labels=labels, data_dir=data_dir, split="train", workers=workers)


def test_the_slice_holds_every_pixel_value(fashion):
    """So the batch tests below check the uint8 -> float32 / 255 conversion of every value 0..255."""
    assert len(np.unique(fashion[0])) == 256


@pytest.mark.parametrize("workers", [0, 2], ids=["workers=0", "workers=2"])
def test_native_batches_equal_the_device_path(framework, fashion, workers):
    images, labels, _ = fashion
    model = native_model(framework, MODELS["mlp"])
    pipeline = open_pipeline(model, source(fashion, workers))
    batch_size = 128  # 128 + 128 + 44
    starts = range(0, N, batch_size)
    for seed in (12, 13):  # a new order per epoch on the same pipeline
        order = np.random.default_rng(seed).permutation(N)
        batches = list(model.native_batches(pipeline, order, batch_size))
        assert len(batches) == len(starts)
        for start, (x, y) in zip(starts, batches, strict=True):
            index = order[start : start + batch_size]
            expected = data.Dataset.as_float(images[index])
            assert x.dtype == np.float32 and x.shape == expected.shape, (x.dtype, x.shape)
            np.testing.assert_array_equal(x, expected, err_msg=f"images of the batch at {start}")
            assert np.asarray(y).dtype == np.int64 and np.asarray(y).shape == (len(index),)
            np.testing.assert_array_equal(y, labels[index], err_msg=f"labels at {start}")


@pytest.mark.parametrize("name", sorted(MODELS))
def test_an_epoch_from_either_input_gives_identical_results(framework, fashion, name, mode):
    """In every mode (``mode`` is parametrized from framework.MODES by conftest.py): the same epoch
    statistics and bit-identical weights on the CPU."""
    spec = MODELS[name]
    images, labels, _ = fashion
    order = np.random.default_rng(13).permutation(N)
    results = []
    for use_native in (False, True):
        model = native_model(framework, spec, mode)
        model.set_weights(spec.initial_weights(seed=8))
        if use_native:
            on_device = open_pipeline(model, source(fashion, workers=0))
        else:
            on_device = model.put(data.Dataset.as_float(images), labels)
        stats = model.train_epoch(on_device, order, batch_size=64, lr=spec.lr)  # 4 x 64 + 44
        model.sync()
        results.append((stats, model.get_weights()))
    (device_stats, device_path), (native_stats, native) = results
    assert native_stats == device_stats
    for key in device_path:
        np.testing.assert_array_equal(native[key], device_path[key], err_msg=key)

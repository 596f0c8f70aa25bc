"""pytest-benchmark: one SGD step and one inference batch per model and device, device synchronised.

Run per framework by ``nox -s microbench``; the JSON lands in results/microbench/<framework>.json and
the report merges it. The batch is real Fashion-MNIST (the first 256 training images).
"""

from __future__ import annotations

import numpy as np
import pytest
from framework_fixtures import build

from bench import data
from bench.specs import MODELS

BATCH = 256  # the training batch size of both models


@pytest.fixture(scope="module")
def batch():
    try:
        dataset = data.load(allow_download=False)
    except data.DataError as exc:
        pytest.skip(str(exc))
    return data.Dataset.as_float(dataset.train_images[:BATCH]), dataset.train_labels[:BATCH]


def _loaded(framework, device, model, batch):
    """The model with canonical weights and the batch on its device."""
    spec = MODELS[model]
    net = build(framework, spec, device)
    net.set_weights(spec.initial_weights(0))
    return spec, net, net.put(*batch)


def _measure(benchmark, framework, device, model, kind, call):
    call()  # warm-up: compilation/tracing is not part of a measured call
    benchmark.extra_info.update(framework=framework.NAME, model=model, device=device,
                                mode=framework.MODES[0], kind=kind, batch=BATCH)  # fmt: skip
    benchmark(call)


@pytest.mark.parametrize("model", sorted(MODELS))
def test_train_step(benchmark, framework, device, model, batch):
    spec, net, on_device = _loaded(framework, device, model, batch)
    order = np.arange(BATCH)

    def step():
        net.train_epoch(on_device, order, BATCH, spec.lr)  # one batch = one SGD step
        net.sync()

    _measure(benchmark, framework, device, model, "train_step", step)


@pytest.mark.parametrize("model", sorted(MODELS))
def test_inference_batch(benchmark, framework, device, model, batch):
    _, net, on_device = _loaded(framework, device, model, batch)

    def infer():
        net.logits(on_device)  # returns host numpy: includes the device->host copy of the logits
        net.sync()

    _measure(benchmark, framework, device, model, "inference_batch", infer)

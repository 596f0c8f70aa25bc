"""Keras-on-torch-specific tests: the backend and the native counterpart of each mode are recorded,
the step is the guide's loop (optimizer.apply per batch, under no_grad), fit follows the given batches
unshuffled (compiled only in fit-compile), sync synchronises CUDA and only CUDA.

Run by ``nox -s "tests(suite='keras-torch')"`` beside the conformance suite.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from bench.specs import MLP
from impls.keras_torch import KerasTorchFramework


@pytest.fixture(scope="module")
def framework():
    return KerasTorchFramework(threads=os.cpu_count() or 1)


def data(n=24, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, size=n).astype(np.int64)


def test_the_record_says_keras_runs_on_torch_beside_the_torch_row(framework):
    versions = framework.versions()
    assert versions["keras_backend"] == "torch" and versions["keras"] == "3.15.1"
    assert versions["torch"] == torch.__version__
    natives = {mode: framework.settings("cpu", mode)["native_mode"] for mode in framework.MODES}
    assert natives == {"step": "eager", "fit": "eager", "fit-compile": "compile"}
    settings = framework.settings("cpu", "fit-compile")
    assert settings["keras_backend"] == "torch" and settings["native_framework"] == "torch"
    assert settings["jit_compile"] is True and settings["steps_per_execution"] == 1
    assert settings["tf32"] is False


def test_step_applies_the_keras_optimizer_once_per_batch_without_grad(framework, monkeypatch):
    model = framework.build(MLP, "cpu", "step")
    model.set_weights(MLP.initial_weights(0))
    images, labels = data()
    calls = []
    real = model.optimizer.apply

    def recording(grads, weights):
        calls.append((torch.is_grad_enabled(), all(g is not None for g in grads)))
        return real(grads, weights)

    monkeypatch.setattr(model.optimizer, "apply", recording)
    model.train_epoch(model.put(images, labels), np.arange(24), batch_size=16, lr=MLP.lr)  # 16 + 8
    assert calls == [(False, True), (False, True)]


@pytest.mark.parametrize("mode", ["fit", "fit-compile"])
def test_fit_gets_the_harness_batches_without_shuffling(framework, mode, monkeypatch):
    model = framework.build(MLP, "cpu", mode)
    assert model.net.jit_compile is (mode == "fit-compile")
    images, labels = data()
    calls = []

    def recording(x, y, **kwargs):  # not trained: only what fit is given is checked
        calls.append((y.numpy().copy(), kwargs))
        return type("History", (), {"history": {"loss": [0.0], "accuracy": [0.0]}})()

    monkeypatch.setattr(model.net, "fit", recording)
    order = np.random.default_rng(3).permutation(24)
    model.train_epoch(model.put(images, labels), order, batch_size=16, lr=MLP.lr)
    ((y, kwargs),) = calls
    np.testing.assert_array_equal(y, labels[order])
    assert kwargs["shuffle"] is False and kwargs["batch_size"] == 16 and kwargs["epochs"] == 1


def test_sync_synchronises_cuda_and_only_cuda(framework, monkeypatch):
    # imported after the framework fixture chose the backend (Keras reads KERAS_BACKEND at import)
    from impls.keras_torch.training import TorchStepModel

    calls = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: calls.append(device))
    model = TorchStepModel(MLP, torch.device("cpu"), "step")
    model.sync()
    assert calls == []
    model.torch_device = torch.device("cuda", 0)  # as built on a GPU; only sync() is exercised
    model.sync()
    assert calls == [torch.device("cuda", 0)]


# -- the reference loops (nox -s baseline; their generic tests: tests/conformance/test_reference_loops.py)


def test_every_mode_has_a_skilled_loop():
    from impls.keras_torch import baseline

    assert set(baseline.SKILLED) == set(KerasTorchFramework.MODES)  # every mode runs on a CPU

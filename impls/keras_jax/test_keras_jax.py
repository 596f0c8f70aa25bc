"""Keras-on-JAX-specific tests: the backend and the native counterpart are recorded, Keras cannot be
re-imported on another backend, sync really waits for the model's arrays, one host fetch per epoch
in step mode, fit follows the given batches with steps_per_execution, the GPU reason names the pins.

Run by ``nox -s "tests(suite='keras-jax')"`` beside the conformance suite.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from bench.contract import Unsupported
from bench.specs import MLP
from impls.keras_common import import_keras
from impls.keras_jax import FIT_STEPS_PER_EXECUTION, KerasJaxFramework


@pytest.fixture(scope="module")
def framework():
    return KerasJaxFramework(threads=os.cpu_count() or 1)


def data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, size=n).astype(np.int64)


def test_the_record_says_keras_runs_on_jax_beside_the_jax_row(framework):
    versions = framework.versions()
    assert versions["keras_backend"] == "jax" and versions["keras"] == "3.15.1"
    for mode in framework.MODES:
        settings = framework.settings("cpu", mode)
        assert settings["keras_backend"] == "jax"
        assert settings["keras_floatx"] == "float32"
        assert (settings["native_framework"], settings["native_mode"]) == ("jax", "jit")
        assert settings["matmul_precision"] == "highest"
        assert settings["compile_cache"] == framework.compile_cache  # the jax row's own setting
    assert framework.settings("cpu", "fit")["steps_per_execution"] == FIT_STEPS_PER_EXECUTION


def test_keras_cannot_switch_backend_in_one_process(framework):
    with pytest.raises(ImportError, match="KERAS_BACKEND=torch"):
        import_keras("torch")


@pytest.mark.parametrize("mode", KerasJaxFramework.MODES)
def test_sync_blocks_on_the_variables_and_the_last_outputs(framework, mode, monkeypatch):
    """A no-op sync, or one waiting for other arrays, fails here (no timing involved)."""
    import jax

    model = framework.build(MLP, "cpu", mode)
    model.set_weights(MLP.initial_weights(0))
    images, labels = data()
    model.train_epoch(model.put(images, labels), np.arange(40), batch_size=16, lr=MLP.lr)
    blocked: list[int] = []
    real = jax.block_until_ready

    def recording(tree):
        blocked.extend(id(leaf) for leaf in jax.tree.leaves(tree))
        return real(tree)

    monkeypatch.setattr(jax, "block_until_ready", recording)
    model.sync()
    expected = [v.value for v in model.net.trainable_variables]
    if mode == "step":
        expected += [v.value for v in model.optimizer.variables] + list(jax.tree.leaves(model._last))
    assert {id(a) for a in expected} <= set(blocked)


def test_step_mode_fetches_from_the_device_once_per_epoch(framework, monkeypatch):
    import jax

    model = framework.build(MLP, "cpu", "step")
    model.set_weights(MLP.initial_weights(0))
    images, labels = data(n=70)
    on_device = model.put(images, labels)
    fetches = []
    real = jax.device_get
    monkeypatch.setattr(jax, "device_get", lambda tree: fetches.append(1) or real(tree))
    model.train_epoch(on_device, np.arange(70), batch_size=16, lr=MLP.lr)  # 4 x 16 + 6
    assert len(fetches) == 1


def test_fit_gets_the_harness_batches_without_shuffling(framework, monkeypatch):
    """model.fit is called once per epoch on the data in the harness's order, shuffle off."""
    model = framework.build(MLP, "cpu", "fit")
    model.set_weights(MLP.initial_weights(0))
    images, labels = data(n=24)
    calls = []
    real = model.net.fit

    def recording(x, y, **kwargs):
        calls.append((np.asarray(y), kwargs))
        return real(x, y, **kwargs)

    monkeypatch.setattr(model.net, "fit", recording)
    order = np.random.default_rng(3).permutation(24)
    model.train_epoch(model.put(images, labels), order, batch_size=16, lr=MLP.lr)
    ((y, kwargs),) = calls
    np.testing.assert_array_equal(y, labels[order])
    assert kwargs["shuffle"] is False and kwargs["batch_size"] == 16 and kwargs["epochs"] == 1
    assert model.net.steps_per_execution == FIT_STEPS_PER_EXECUTION


def test_a_new_learning_rate_is_used_without_rebuilding(framework):
    """The lr is one of the optimizer's variables: an epoch at lr 0 changes nothing."""
    model = framework.build(MLP, "cpu", "step")
    weights = MLP.initial_weights(0)
    model.set_weights(weights)
    images, labels = data()
    model.train_epoch(model.put(images, labels), np.arange(40), batch_size=16, lr=0.0)
    for name, value in model.get_weights().items():
        np.testing.assert_array_equal(value, weights[name], err_msg=name)


def test_gpu_reason_names_this_frameworks_pins(framework):
    if "gpu" in framework.devices():
        pytest.skip("this environment has a GPU")
    with pytest.raises(Unsupported, match=r"impls/keras_jax/requirements-gpu\.txt"):
        framework.device_name("gpu")


# -- the reference loops (nox -s baseline; their generic tests: tests/conformance/test_reference_loops.py)


def test_every_mode_has_a_skilled_loop():
    from impls.keras_jax import baseline

    assert set(baseline.SKILLED) == set(KerasJaxFramework.MODES)  # every mode runs on a CPU

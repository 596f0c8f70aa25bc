"""JAX/Flax-specific tests: sync really waits for the model's arrays, one host fetch per epoch,
the NHWC/HWIO layout translation, truthful thread settings, the GPU skip reason, the baseline loop.

Run by ``nox -s "tests(suite='jax')"`` beside the conformance suite.
"""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

from bench.contract import Unsupported
from bench.loops import LoopArgs
from bench.specs import LENET, MLP
from impls.jax import SINGLE_THREAD_FLAG, JaxFramework


@pytest.fixture(scope="module")
def framework():
    return JaxFramework(threads=os.cpu_count() or 1)


def data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, size=n).astype(np.int64)


def leaf_ids(tree) -> set[int]:
    import jax

    return {id(leaf) for leaf in jax.tree.leaves(tree)}


@pytest.mark.parametrize("mode", JaxFramework.MODES)
def test_sync_blocks_on_the_model_state_and_the_last_outputs(framework, mode, monkeypatch):
    """sync() must wait for every array the model's queued work produces: the parameters, the
    optimizer state and the latest outputs. A no-op sync (or one that waits for something else)
    fails here deterministically; no timing is involved."""
    import jax

    model = framework.build(MLP, "cpu", mode)
    model.set_weights(MLP.initial_weights(0))
    images, labels = data()
    model.train_epoch(model.put(images, labels), np.arange(40), batch_size=16, lr=MLP.lr)
    blocked: list[set[int]] = []
    real = jax.block_until_ready

    def recording(tree):
        blocked.append(leaf_ids(tree))
        return real(tree)

    monkeypatch.setattr(jax, "block_until_ready", recording)
    model.sync()
    waited = set().union(*blocked)
    assert leaf_ids(model.params) <= waited, "sync does not wait for the parameters"
    assert leaf_ids(model.opt_state) <= waited, "sync does not wait for the optimizer state"
    assert model._last is not None and leaf_ids(model._last) <= waited, "nor for the last outputs"
    assert all(leaf.is_ready() for leaf in jax.tree.leaves((model.params, model.opt_state, model._last)))


@pytest.mark.parametrize("mode", JaxFramework.MODES)
def test_an_epoch_fetches_from_the_device_once(framework, mode, monkeypatch):
    """Loss and accuracy are accumulated on the device; the epoch's only host fetch is at its end."""
    import jax

    model = framework.build(MLP, "cpu", mode)
    model.set_weights(MLP.initial_weights(0))
    images, labels = data(n=70)
    on_device = model.put(images, labels)
    fetches = []
    real = jax.device_get
    monkeypatch.setattr(jax, "device_get", lambda tree: fetches.append(1) or real(tree))
    stats = model.train_epoch(on_device, np.arange(70), batch_size=16, lr=MLP.lr)  # 4 x 16 + 6
    assert len(fetches) == 1
    assert 0.0 <= stats.accuracy <= 1.0


def test_lenet_flatten_is_translated_from_chw_to_hwc(framework):
    """Canonical fc1 column c*25 + h*5 + w is Flax's kernel row h*80 + w*16 + c (NHWC flatten)."""
    from impls.jax.training import flatten_shapes, from_flax, to_flax

    chw = flatten_shapes(LENET)["fc1"]
    assert chw == (16, 5, 5)
    canonical = np.arange(120 * 400, dtype=np.float32).reshape(120, 400)
    flax_kernel = to_flax(canonical, chw)
    assert flax_kernel.shape == (400, 120)
    for c, h, w, out in ((0, 0, 1, 0), (3, 2, 4, 7), (15, 4, 4, 119)):
        assert flax_kernel[h * 80 + w * 16 + c, out] == canonical[out, c * 25 + h * 5 + w]
    np.testing.assert_array_equal(from_flax(flax_kernel, chw), canonical)
    conv = np.arange(6 * 1 * 5 * 5, dtype=np.float32).reshape(6, 1, 5, 5)  # O I H W
    assert to_flax(conv, None).shape == (5, 5, 1, 6)  # H W I O
    np.testing.assert_array_equal(from_flax(to_flax(conv, None), None), conv)


def test_settings_report_threads_truthfully(framework):
    """All cores: XLA's pool size, an int. Fewer: "not pinnable", and the note says what was set."""
    import impls.jax as jax_impl

    pool = jax_impl._usable_cpus()
    full = framework.settings("cpu", "jit")
    assert full["intra_op_threads"] == pool
    assert full["dtype"] == "float32" and full["matmul_precision"] == "highest"
    assert full["preallocate"] == "false"
    if pool > 1:
        one = JaxFramework(threads=1).settings("cpu", "jit")
        assert one["intra_op_threads"] == "not pinnable"
        assert "cannot be sized" in one["threads_note"]
        # The flag is only claimed when it really was in XLA_FLAGS when jax started.
        assert (SINGLE_THREAD_FLAG in one["threads_note"]) == (SINGLE_THREAD_FLAG in one["xla_flags"])


def test_precision_sets_jax_matmul_precision(framework):
    import jax

    framework.build(MLP, "cpu", "jit", precision="fp32")
    assert jax.config.jax_default_matmul_precision == "highest"
    with pytest.raises(Unsupported, match="tf32"):
        framework.build(MLP, "cpu", "jit", precision="tf32")
    with pytest.raises(Unsupported, match="tf32"):
        framework.settings("cpu", "jit", precision="tf32")


def test_gpu_reason_names_the_build_and_the_pin(framework):
    if "gpu" in framework.devices():
        pytest.skip("this jax sees a GPU")
    with pytest.raises(Unsupported) as info:
        framework.device_name("gpu")
    message = str(info.value)
    assert "jax" in message and ("CPU-only build" in message or "CUDA plugin" in message)
    if "CPU-only build" in message:
        assert "jax[cuda13]==" in message and "requirements-gpu.txt" in message


def test_plain_baseline_trains_and_times_epochs(framework, monkeypatch):
    """plain_epochs runs its nnx.jit step over every batch of each epoch and moves the weights."""
    import jax
    from flax import nnx

    from impls.jax.baseline import plain_epochs

    calls = []  # (batch size, time of the call, the model)
    real_jit = nnx.jit

    def recording_jit(fn):
        jitted = real_jit(fn)

        def step(model, optimizer, x, y):
            calls.append((x.shape[0], time.perf_counter(), model))
            return jitted(model, optimizer, x, y)

        return step

    monkeypatch.setattr(nnx, "jit", recording_jit)
    images, labels = data(n=300)
    weights = MLP.initial_weights(0)
    epochs = plain_epochs(LoopArgs(MLP, weights, images, labels, 128, MLP.lr))
    seconds = [next(epochs) for _ in range(2)]
    assert [size for size, _, _ in calls] == [128, 128, 44] * 2  # every example, last batch kept
    for epoch, epoch_seconds in enumerate(seconds):
        times = [t for _, t, _ in calls[3 * epoch : 3 * epoch + 3]]
        assert epoch_seconds >= times[-1] - times[0] > 0  # the clock brackets the epoch's steps
    trained = np.asarray(jax.device_get(calls[-1][2].fc1.kernel[...]))
    assert not np.allclose(trained, weights["fc1.weight"].T)  # SGD moved the weights


def test_without_grain_device_input_trains_and_native_input_names_the_fix(framework, monkeypatch):
    """The lent GPU machine has JAX but no grain: everything but --input native must still work."""
    import sys

    from bench.contract import NativeSource

    monkeypatch.setitem(sys.modules, "grain", None)  # "import grain" now raises ImportError
    monkeypatch.delitem(sys.modules, "impls.jax.native", raising=False)
    assert framework.versions()["grain"].startswith("not installed")
    model = framework.build(MLP, "cpu", "jit")
    model.set_weights(MLP.initial_weights(0))
    images, labels = data()
    stats = model.train_epoch(model.put(images, labels), np.arange(40), batch_size=16, lr=MLP.lr)
    assert np.isfinite(stats.loss)
    source = NativeSource(images=images, labels=labels, data_dir=None, split="train", workers=0)
    with pytest.raises(Unsupported, match=r"needs grain, which is not installed here .*pip install grain"):
        model.native_input(source)


def test_scan_refuses_a_native_pipeline_with_the_fix(framework):
    """A host pipeline cannot be scanned over: native input in scan mode would train exactly as jit
    does and be recorded as scan, so it is refused (recorded as skipped) instead."""
    from bench.contract import NativeSource

    model = framework.build(MLP, "cpu", "scan")
    images, labels = data()
    source = NativeSource(images=images, labels=labels, data_dir=None, split="train", workers=0)
    with pytest.raises(Unsupported, match=r"^scan mode compiles the epoch .*use --input device, or mode jit"):
        model.native_input(source)


def test_the_persistent_compile_cache_is_on_where_the_session_says(framework, monkeypatch, tmp_path):
    import jax

    from impls.jax import COMPILE_CACHE_ENV

    names = ("jax_compilation_cache_dir", "jax_persistent_cache_min_compile_time_secs",
             "jax_persistent_cache_min_entry_size_bytes")  # fmt: skip
    saved = {name: jax.config.values[name] for name in names}
    monkeypatch.delenv(COMPILE_CACHE_ENV, raising=False)
    try:
        jax.config.update("jax_compilation_cache_dir", None)
        assert JaxFramework(threads=1).compile_cache == "off"
        monkeypatch.setenv(COMPILE_CACHE_ENV, str(tmp_path))
        cached = JaxFramework(threads=1)
        assert jax.config.jax_compilation_cache_dir == str(tmp_path / "jax")
        assert jax.config.jax_persistent_cache_min_compile_time_secs == 0.0
        recorded = cached.settings("cpu", "jit")["compile_cache"]
        assert recorded.startswith(f"persistent compilation cache in {tmp_path}")
    finally:
        for name, value in saved.items():
            jax.config.update(name, value)

"""MXNet-specific tests beyond the generic conformance suite (run in the mxnet environment).

mxnet is never imported at module level here: it must first be imported by MxnetFramework, which
sets the threading environment mxnet reads at import time.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from bench.contract import Unsupported
from bench.loops import LoopArgs
from bench.specs import LENET, MLP

pytestmark = pytest.mark.skipif(importlib.util.find_spec("mxnet") is None, reason="mxnet not installed")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def framework():
    """The framework, built with the same thread count as the conformance suite's."""
    import impls

    return impls.load_class("mxnet")(threads=os.cpu_count() or 1)


def test_threading_environment_is_set_before_mxnet_is_imported():
    code = textwrap.dedent(
        """
        import os, sys
        import impls.mxnet
        assert "mxnet" not in sys.modules, "importing the package must not import mxnet"
        fw = impls.mxnet.MxnetFramework(threads=1)
        assert "mxnet" in sys.modules
        assert os.environ["OMP_NUM_THREADS"] == "1", os.environ["OMP_NUM_THREADS"]
        assert os.environ["MXNET_CPU_WORKER_NTHREADS"] == "1"
        settings = fw.settings("cpu", "hybrid")
        assert settings["intra_op_threads"] == 1 and settings["inter_op_threads"] == 1, settings
        """
    )
    env = {**os.environ, "OMP_NUM_THREADS": "7", "PYTHONPATH": str(ROOT)}  # 7: must be overridden
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]


_HOLD = {"started": threading.Event(), "release": threading.Event()}


def _register_held_op():
    """A custom operator whose forward, run by mxnet's engine, waits until the test releases it."""
    import mxnet as mx

    if getattr(_register_held_op, "done", False):
        return

    class Held(mx.operator.CustomOp):
        def forward(self, is_train, req, in_data, out_data, aux):
            _HOLD["started"].set()
            _HOLD["release"].wait(timeout=60)
            self.assign(out_data[0], req[0], in_data[0] + 1)

        def backward(self, req, out_grad, in_data, out_data, in_grad, aux):  # never called
            raise NotImplementedError

    @mx.operator.register("framebench_held")
    class HeldProp(mx.operator.CustomOpProp):
        def __init__(self):
            super().__init__(need_top_grad=False)

        def list_arguments(self):
            return ["data"]

        def list_outputs(self):
            return ["output"]

        def infer_shape(self, in_shape):
            return in_shape, [in_shape[0]], []

        def create_operator(self, ctx, shapes, dtypes):
            return Held()

    _register_held_op.done = True


def test_sync_waits_for_queued_work(framework):
    """sync() must not return while queued work is unfinished; checked with work held in the engine.

    The queued op cannot finish before the test releases it, so a correct sync() cannot return
    early whatever the machine's speed; a sync() that does not block returns at once and is caught.
    """
    import mxnet as mx

    _register_held_op()
    model = framework.build(MLP, "cpu", "hybrid")
    _HOLD["started"].clear()
    _HOLD["release"].clear()
    out = mx.nd.Custom(mx.nd.zeros((4,)), op_type="framebench_held")  # queued, returns at once
    assert _HOLD["started"].wait(timeout=60), "the engine never ran the held op"
    synced = threading.Event()
    waiter = threading.Thread(target=lambda: (model.sync(), synced.set()), daemon=True)
    waiter.start()
    returned_while_held = synced.wait(timeout=1.0)
    _HOLD["release"].set()
    waiter.join(timeout=60)
    assert not returned_while_held, "sync() returned while queued work was still running"
    assert synced.is_set(), "sync() never returned after the work finished"
    np.testing.assert_array_equal(out.asnumpy(), np.ones(4, np.float32))


@pytest.mark.parametrize("spec", [LENET, MLP], ids=lambda s: s.name)
def test_hybrid_and_imperative_agree(framework, spec):
    rng = np.random.default_rng(0)
    images = rng.random((40, 1, 28, 28), dtype=np.float32)
    labels = rng.integers(0, 10, size=40).astype(np.int64)
    order = rng.permutation(40)
    results = {}
    for mode in framework.MODES:
        model = framework.build(spec, "cpu", mode)
        model.set_weights(spec.initial_weights(seed=5))
        data = model.put(images, labels)
        before = model.logits(data)
        model.train_epoch(data, order, batch_size=16, lr=spec.lr)  # 16 + 16 + 8
        results[mode] = before, model.logits(data)
    (hybrid_before, hybrid_after), (imp_before, imp_after) = results["hybrid"], results["imperative"]
    np.testing.assert_allclose(hybrid_before, imp_before, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(hybrid_after, imp_after, rtol=1e-5, atol=1e-5)


def test_gpu_without_one_is_unsupported_with_a_reason(framework):
    if "gpu" in framework.devices():
        pytest.skip("this environment has a GPU")
    with pytest.raises(Unsupported, match="no GPU visible to mxnet") as raised:
        framework.build(MLP, "gpu", "hybrid")
    import mxnet as mx

    if not mx.runtime.Features().is_enabled("CUDA"):  # this environment: mxnet from requirements.txt
        assert str(raised.value).startswith("no GPU visible to mxnet 1.9.1 (a CPU-only build)")
        assert "`mxnet-cu112==1.9.1` (impls/mxnet/requirements-gpu.txt)" in str(raised.value)


def test_no_gpu_reasons_name_what_is_missing_and_what_to_install(framework):
    from impls.mxnet import runtime

    cpu_build = runtime.no_gpu_reason("1.9.1", cuda_build=False)
    assert cpu_build == (
        "no GPU visible to mxnet 1.9.1 (a CPU-only build); on a CUDA machine, install "
        "`mxnet-cu112==1.9.1` (impls/mxnet/requirements-gpu.txt), which needs the CUDA 11.2 runtime "
        "libraries (libcudart, cuBLAS, cuDNN 8) on the machine and an NVIDIA driver for CUDA 11.2"
    )
    broken = runtime.no_gpu_reason("1.9.1", cuda_build=True, error="MXNetError: CUDA: no CUDA-capable device")
    assert "a CUDA build" in broken and "no CUDA-capable device" in broken and "CUDA 11.2 runtime" in broken
    no_gpu = runtime.no_gpu_reason("1.9.1", cuda_build=True)
    assert "num_gpus() is 0" in no_gpu and "nvidia-smi" in no_gpu
    assert runtime.gpu_requirement() == "mxnet-cu112==1.9.1"


def test_device_selection_with_and_without_a_gpu(framework, monkeypatch):
    """Device selection checked without a GPU: the GPU count is faked, nothing runs on it."""
    import mxnet as mx

    from impls.mxnet import runtime

    monkeypatch.setattr(runtime, "_gpu_count", lambda: (1, None))
    assert framework.devices() == ["cpu", "gpu"]
    assert runtime.context("gpu") == mx.gpu(0) and runtime.context("cpu") == mx.cpu()
    monkeypatch.setattr(runtime, "_gpu_count", lambda: (0, "MXNetError: CUDA init failed"))
    assert framework.devices() == ["cpu"]
    with pytest.raises(Unsupported) as raised:
        framework.device_name("gpu")
    cuda_build = mx.runtime.Features().is_enabled("CUDA")
    assert str(raised.value) == runtime.no_gpu_reason(
        mx.__version__, cuda_build, "MXNetError: CUDA init failed"
    )
    with pytest.raises(Unsupported, match="unknown device 'tpu'"):
        runtime.context("tpu")


def test_precision_is_fp32_only_with_the_reason(framework):
    with pytest.raises(Unsupported, match="CPU runs are fp32 only"):
        framework.build(MLP, "cpu", "hybrid", precision="tf32")
    with pytest.raises(Unsupported, match="no TF32 switch worth trusting"):
        framework.settings("gpu", "hybrid", precision="tf32")
    with pytest.raises(Unsupported, match="precision"):
        framework.build(MLP, "cpu", "hybrid", precision="bf16")
    settings = framework.settings("gpu", "hybrid")
    assert settings["precision"] == "fp32" and settings["tf32"] is False and settings["tensor_core"] is False
    assert os.environ["NVIDIA_TF32_OVERRIDE"] == "0"


def test_layers_are_found_by_name(framework):
    """Each layer's Gluon prefix is its canonical name; the weight map follows names, not positions."""
    model = framework.build(LENET, "cpu", "imperative")
    params = set(model.net.collect_params())
    assert params == {name.replace(".", "_") for name in LENET.weight_shapes()}
    weights = LENET.initial_weights(seed=2)
    model.set_weights(weights)
    np.testing.assert_array_equal(
        model.net.collect_params()["fc2_weight"].data().asnumpy(), weights["fc2.weight"]
    )


def test_plain_baseline_trains_and_times_epochs(framework, monkeypatch):
    """plain_epochs steps over every batch of each epoch, moves the weights, and each yielded time
    spans that epoch's steps."""
    from mxnet import gluon

    from impls.mxnet.baseline import plain_epochs

    steps = []  # (batch size, time of the call, the trainer)
    original_step = gluon.Trainer.step

    def recording_step(trainer, batch_size, *args, **kwargs):
        steps.append((batch_size, time.perf_counter(), trainer))
        return original_step(trainer, batch_size, *args, **kwargs)

    monkeypatch.setattr(gluon.Trainer, "step", recording_step)
    rng = np.random.default_rng(0)
    images = rng.random((300, 1, 28, 28), dtype=np.float32)
    labels = rng.integers(0, 10, size=300).astype(np.int64)
    weights = MLP.initial_weights(0)
    epochs = plain_epochs(LoopArgs(MLP, weights, images, labels, 128, MLP.lr))
    seconds = []
    for _ in range(2):
        seconds.append(next(epochs))
        assert [size for size, _, _ in steps[-3:]] == [128, 128, 44]  # every example, last batch kept
    assert len(steps) == 6  # 3 steps per epoch, nothing more
    for epoch, epoch_seconds in enumerate(seconds):
        times = [t for _, t, _ in steps[3 * epoch : 3 * epoch + 3]]
        assert epoch_seconds >= times[-1] - times[0] > 0  # the clock brackets the epoch's steps
    params = steps[-1][2]._params
    trained = {p.name: p.data().asnumpy() for p in params}
    assert not np.allclose(trained["fc1_weight"], weights["fc1.weight"])  # SGD moved the weights


def test_every_mode_has_a_skilled_loop(framework):
    """Every mode runs on a CPU, so each has a skilled loop (an unknown mode's refusal, and the line
    of each CPU mode: tests/conformance/test_reference_loops.py)."""
    from impls.mxnet import baseline

    assert list(baseline.SKILLED) == list(framework.MODES)  # both run on a CPU

"""Paddle-specific tests: sync waits on a GPU place, one host fetch per epoch, the Linear layout
translation, truthful thread and oneDNN settings, the GPU skip reason and device selection.

Run by ``nox -s "tests(suite='paddle')"`` beside the conformance suite.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bench.contract import Unsupported
from bench.specs import LENET, MLP
from impls.paddle import PaddleFramework

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def framework():
    return PaddleFramework(threads=os.cpu_count() or 1)


@pytest.fixture(scope="module")
def runtime(framework):
    from impls.paddle import runtime

    return runtime


def data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, size=n).astype(np.int64)


def test_sync_waits_for_the_gpu_the_model_runs_on(framework, monkeypatch):
    """On a GPU place sync() must call paddle.device.synchronize for that place: a no-op sync fails
    here. On the CPU it must not (Paddle refuses a CPU place there). No timing is involved."""
    import paddle

    calls = []
    monkeypatch.setattr(paddle.device, "synchronize", lambda place=None: calls.append(place))
    model = framework.build(MLP, "cpu", "dygraph")
    model.sync()
    assert calls == []
    model.place = "gpu:0"  # as build() sets it on a GPU machine
    model.sync()
    assert calls == ["gpu:0"]


@pytest.mark.parametrize("mode", PaddleFramework.MODES)
def test_an_epoch_fetches_from_the_device_once(framework, mode, monkeypatch):
    """Loss and accuracy are summed on the device; the epoch's only host reads are at its end (the
    two sums), never one per batch."""
    import paddle

    model = framework.build(MLP, "cpu", mode)
    model.set_weights(MLP.initial_weights(0))
    images, labels = data(n=70)
    on_device = model.put(images, labels)
    reads = []
    real_item, real_numpy = paddle.Tensor.item, paddle.Tensor.numpy
    monkeypatch.setattr(paddle.Tensor, "item", lambda self, *a: reads.append("item") or real_item(self, *a))
    monkeypatch.setattr(paddle.Tensor, "numpy", lambda self: reads.append("numpy") or real_numpy(self))
    stats = model.train_epoch(on_device, np.arange(70), batch_size=16, lr=MLP.lr)  # 4 x 16 + 6
    assert reads == ["item", "item"]
    assert 0.0 <= stats.accuracy <= 1.0


def test_linear_weights_are_transposed_and_conv_weights_are_not(framework):
    """Paddle's Linear.weight is in x out (canonical: out x in); Conv2D.weight is O x I x H x W."""
    model = framework.build(LENET, "cpu", "dygraph")
    weights = LENET.initial_weights(seed=5)
    model.set_weights(weights)
    np.testing.assert_array_equal(model.net.fc1.weight.numpy(), weights["fc1.weight"].T)
    assert list(model.net.fc1.weight.shape) == [400, 120]
    np.testing.assert_array_equal(model.net.conv2.weight.numpy(), weights["conv2.weight"])


def test_threads_are_set_and_reported_as_in_effect(framework, runtime):
    """PaddleFramework(threads) sets OpenMP's and MKL's thread counts; settings() reads them back."""
    try:
        one = PaddleFramework(threads=1)
        assert runtime.omp_threads() == 1 and runtime.mkl_threads() == 1
        assert one.settings("cpu", "dygraph")["intra_op_threads"] == 1
        two = PaddleFramework(threads=2)
        assert runtime.omp_threads() == 2
        assert two.settings("cpu", "dygraph")["intra_op_threads"] == 2
    finally:
        runtime.set_threads(framework.threads)
    assert framework.settings("cpu", "dygraph")["intra_op_threads"] == framework.threads


def test_versions_name_the_bundled_onednn_and_mkl(framework):
    versions = framework.versions()
    assert versions["paddle"] == "3.3.1"
    assert versions["onednn"][0].isdigit(), versions["onednn"]
    assert "Math Kernel Library" in versions["mkl"]


def test_gpu_reason_names_what_to_install_or_check(runtime):
    cpu_build = runtime.gpu_unavailable_reason(compiled_with_cuda=False, has_nvidia_smi=False)
    assert "CPU-only build" in cpu_build and "paddlepaddle-gpu==3.3.1" in cpu_build
    assert "requirements-gpu.txt" in cpu_build
    assert "this machine has an NVIDIA GPU" in runtime.gpu_unavailable_reason(False, None, True)
    no_device = runtime.gpu_unavailable_reason(True, device_count=0, has_nvidia_smi=True)
    assert "sees no GPU" in no_device and "nvidia-smi" in no_device
    assert runtime.gpu_unavailable_reason(True, device_count=1, has_nvidia_smi=False) is None


def test_device_selection(runtime, monkeypatch):
    """cpu -> "cpu"; gpu -> "gpu:0" when Paddle can use one, else Unsupported with the reason."""
    assert runtime.place("cpu") == "cpu"
    with pytest.raises(Unsupported, match="unknown device"):
        runtime.place("tpu")
    monkeypatch.setattr(runtime, "gpu_unavailable_reason", lambda: None)
    assert runtime.place("gpu") == "gpu:0"
    monkeypatch.setattr(runtime, "gpu_unavailable_reason", lambda: "no GPU, because")
    with pytest.raises(Unsupported, match="no GPU, because"):
        runtime.place("gpu")


def test_gpu_is_skipped_with_the_reason_on_a_cpu_build(framework, runtime):
    import paddle

    if paddle.is_compiled_with_cuda():
        pytest.skip("a CUDA build of paddle: the GPU path is checked by the conformance suite")
    assert framework.devices() == ["cpu"]
    with pytest.raises(Unsupported, match="paddlepaddle-gpu"):
        framework.build(MLP, "gpu", "dygraph")
    with pytest.raises(Unsupported, match="CPU-only build"):
        framework.device_name("gpu")


def test_peak_gflops_is_measured(framework):
    peak = framework.peak_gflops("cpu")
    assert peak["gflops"] > 0 and "paddle.matmul" in peak["method"]


ONE_EPOCH = """
import json, sys
import numpy as np
from bench.specs import LENET
from impls.paddle import PaddleFramework
from bench.contract import Unsupported
framework = PaddleFramework(threads=1)
try:
    model = framework.build(LENET, "cpu", sys.argv[1])
except Unsupported as exc:
    print(json.dumps({"unsupported": str(exc)}))
    raise SystemExit(0)
model.set_weights(LENET.initial_weights(seed=3))
rng = np.random.default_rng(0)
images = rng.random((48, 1, 28, 28), dtype=np.float32)
labels = rng.integers(0, 10, size=48).astype(np.int64)
model.train_epoch(model.put(images, labels), rng.permutation(48), batch_size=16, lr=LENET.lr)
weights = {k: v.tobytes().hex() for k, v in model.get_weights().items()}
print(json.dumps({"onednn": framework.settings("cpu", sys.argv[1])["onednn"], "weights": weights}))
"""


def one_epoch(mode: str, onednn: str) -> dict:
    """A LeNet epoch in its own process (Paddle reads FLAGS_use_mkldnn when it is imported)."""
    env = {**os.environ, "FLAGS_use_mkldnn": onednn, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", ONE_EPOCH, mode], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_onednn_switch_is_recorded_and_changes_no_dygraph_arithmetic():
    """FLAGS_use_mkldnn is reported as set; with it on or off a dygraph LeNet epoch ends in
    bit-identical weights, which is what settings()' onednn_note states for paddle 3.3.1."""
    off, on = one_epoch("dygraph", "0"), one_epoch("dygraph", "1")
    assert off["onednn"] is False and on["onednn"] is True
    assert off["weights"] == on["weights"]


def test_onednn_with_to_static_is_refused_early_with_the_reason():
    """paddle 3.3.1's run_program fails on the first to_static training step with oneDNN on
    ("dst_tensor shall be defined"): build refuses the combination, so it is recorded as skipped."""
    assert "weights" in one_epoch("to-static-net", "0")
    refused = one_epoch("to-static-net", "1")
    assert "FLAGS_use_mkldnn" in refused["unsupported"] and "dygraph" in refused["unsupported"]


def test_every_mode_has_a_skilled_loop(framework):
    """Every mode runs on a CPU, so each has a skilled loop (an unknown mode's refusal, and the line
    of each CPU mode: tests/conformance/test_reference_loops.py)."""
    from impls.paddle import baseline

    assert set(baseline.SKILLED) == set(PaddleFramework.MODES)  # both modes run on a CPU

"""MXNet-specific tests beyond the generic conformance suite (run in the mxnet environment).

mxnet is never imported at module level here: it must first be imported by GluonFramework, which
sets the threading environment mxnet reads at import time.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from bench.contract import Unsupported
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
        fw = impls.mxnet.GluonFramework(threads=1)
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


def test_sync_waits_for_queued_work(framework):
    import mxnet as mx

    model = framework.build(MLP, "cpu", "hybrid")
    a = mx.nd.ones((1024, 1024)) / 1024
    b = a
    for _ in range(30):  # ~2 GFLOP each: long enough to still be queued when sync() is called
        b = mx.nd.dot(b, a)
    start = time.perf_counter()
    model.sync()
    synced = time.perf_counter() - start
    start = time.perf_counter()
    b.asnumpy()
    read = time.perf_counter() - start
    # If sync() returned early, reading the result would have to wait for the remaining products.
    assert read < 0.25 * synced, (read, synced)


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
    with pytest.raises(Unsupported, match="no GPU"):
        framework.build(MLP, "gpu", "hybrid")


def test_plain_baseline_trains_and_times_epochs(framework):
    from impls.mxnet.baseline import plain_epochs

    rng = np.random.default_rng(0)
    images = rng.random((300, 1, 28, 28), dtype=np.float32)
    labels = rng.integers(0, 10, size=300).astype(np.int64)
    epochs = plain_epochs(MLP, MLP.initial_weights(0), images, labels, 128, MLP.lr, 0, "cpu")
    seconds = [next(epochs), next(epochs)]
    assert len(seconds) == 2 and all(s > 0 for s in seconds)

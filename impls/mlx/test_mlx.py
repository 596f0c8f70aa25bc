"""MLX-specific tests beyond the conformance suite: sync really runs pending work, MLX's own weight
layout, one computing thread (what ``settings()`` claims), and the GPU refusal.

Run inside MLX's environment: ``FRAMEBENCH_FRAMEWORK=mlx pytest tests/conformance impls/mlx``.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

mx = pytest.importorskip("mlx.core")

from bench.contract import Unsupported  # noqa: E402
from bench.specs import MODELS  # noqa: E402
from impls.mlx import MlxFramework  # noqa: E402

BIG = 4096 * 4096 * 4  # bytes of one float32 4096 x 4096 intermediate


@pytest.fixture(scope="module")
def framework():
    return MlxFramework(threads=1)


def _pending(base):
    """``base`` plus a lazy 64 MB intermediate that contributes 0: nothing is computed until evaluated."""
    return base + mx.sum(mx.ones((4096, 4096)) * 2) * 0


def test_sync_runs_the_pending_work_of_the_state_and_the_outputs(framework):
    """MLX is lazy: an unevaluated parameter or output is a graph. sync() must run it (a no-op sync
    leaves the peak memory untouched, so this fails)."""
    model = framework.build(MODELS["mlp"], "cpu", "eager")
    model.set_weights(MODELS["mlp"].initial_weights(0))
    model.sync()
    for where in ("state", "outputs"):
        if where == "state":
            model.model.fc2.bias = _pending(model.model.fc2.bias)
        else:
            model._last = (_pending(mx.zeros((1,))), mx.array(0))
        mx.reset_peak_memory()
        assert mx.get_peak_memory() < BIG, "the pending work ran before sync"
        model.sync()
        assert mx.get_peak_memory() >= BIG, f"sync() did not run the pending work of the {where}"


def test_weights_are_held_in_mlx_layout(framework):
    """Conv weights O x H x W x I, and fc1's columns in the H*W*C order of an NHWC flatten."""
    spec = MODELS["lenet"]
    model = framework.build(spec, "cpu", "eager")
    weights = spec.initial_weights(1)
    model.set_weights(weights)
    params = model.model.parameters()
    np.testing.assert_array_equal(
        np.array(params["conv1"]["weight"]), weights["conv1.weight"].transpose(0, 2, 3, 1)
    )
    fc1 = weights["fc1.weight"].reshape(120, 16, 5, 5).transpose(0, 2, 3, 1).reshape(120, -1)
    np.testing.assert_array_equal(np.array(params["fc1"]["weight"]), fc1)


PROBE = """
import json, os, resource, time
def threads():
    return len(os.listdir("/proc/self/task"))
import numpy  # numpy's own BLAS may start threads at import: the count to compare with
import bench.contract
base = threads()
from impls.mlx import MlxFramework
MlxFramework.preload(1)
after_import = threads()
import mlx.core as mx
a = mx.random.normal((1024, 1024), key=mx.random.key(0))
mx.eval(a)
after_eval = threads()
start_cpu, start = resource.getrusage(resource.RUSAGE_SELF).ru_utime, time.perf_counter()
for _ in range(4):
    mx.eval(a @ a)
cpu, wall = resource.getrusage(resource.RUSAGE_SELF).ru_utime - start_cpu, time.perf_counter() - start
print(json.dumps(dict(base=base, after_import=after_import, after_eval=after_eval, cpu=cpu, wall=wall)))
"""


def test_one_thread_computes():
    """What settings() reports: importing MLX (and preload) starts no thread, the first evaluation starts
    one (the CPU stream's), and a matrix product uses no more CPU time than wall time (a second
    computing thread would double it; a busy machine only lowers the ratio)."""
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True)
    probe = json.loads(out.stdout.strip().splitlines()[-1])
    assert probe["after_import"] == probe["base"]
    assert probe["after_eval"] == probe["base"] + 1
    assert probe["cpu"] <= 1.25 * probe["wall"] + 0.05, probe


def test_settings_say_when_the_threads_cannot_be_pinned():
    one = MlxFramework(threads=1).settings("cpu", "eager")
    assert one["intra_op_threads"] == 1 and one["inter_op_threads"] == 1
    four = MlxFramework(threads=4).settings("cpu", "compile")
    assert four["intra_op_threads"] == "1, not pinnable"
    assert "asked for 4" in four["threads_note"] and "no thread-count setting" in four["threads_note"]
    assert "g++" in four["cpu_compile"]


def test_the_gpu_is_refused_with_what_to_install(framework):
    assert framework.devices() == ["cpu"]
    with pytest.raises(Unsupported, match=r"mlx\[cuda12\]==0\.32\.4"):
        framework.build(MODELS["mlp"], "gpu", "eager")

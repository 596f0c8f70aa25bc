"""PyTorch-specific tests: device selection (with and without CUDA), sync, declared numerics, the
modes (compile against eager, what compile compiles, graph mode's skip on CPU), the peak
measurement and the native torchvision/DataLoader input path."""

from __future__ import annotations

import types
from typing import ClassVar

import numpy as np
import pytest
import torch

import bench.contract
import impls.torch as impl
from bench.contract import NativeSource, Unsupported
from bench.specs import LENET, MLP, MODELS
from impls.torch import TorchFramework, TorchModel
from impls.torch.models import mlp
from impls.torch.native import idx_bytes

SPECS = [MODELS[name] for name in sorted(MODELS)]


@pytest.fixture(scope="module")
def framework():
    return TorchFramework(threads=2)


@pytest.fixture(autouse=True)
def fp32_switches():
    """Every test starts and ends with TF32 off (the switches are process-wide)."""
    impl.set_precision("fp32")
    yield
    impl.set_precision("fp32")


def random_batch(n, seed=0):
    """Unit-test input in [0, 1] (never recorded as data)."""
    rng = np.random.default_rng(seed)
    return rng.random((n, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, n).astype(np.int64)


# -- devices ----------------------------------------------------------------------------------


def test_without_cuda_gpu_is_unsupported_with_the_reason(framework, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert framework.devices() == ["cpu"]
    with pytest.raises(Unsupported, match=r"no CUDA GPU visible to torch .*"):
        framework.build(MLP, "gpu", "eager")
    with pytest.raises(Unsupported, match=r"no CUDA GPU visible"):
        framework.device_name("gpu")
    assert "gpu" not in framework.versions()  # no GPU identity without one


def test_with_cuda_gpu_is_offered_and_mapped_to_cuda0(framework, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert framework.devices() == ["cpu", "gpu"]
    assert framework._torch_device("gpu") == torch.device("cuda", 0)
    assert framework._torch_device("cpu") == torch.device("cpu")
    with pytest.raises(Unsupported, match="unknown device 'tpu'"):
        framework._torch_device("tpu")


def test_gpu_identity_is_recorded_when_cuda_is_seen(framework, monkeypatch):
    props = types.SimpleNamespace(name="NVIDIA H100 80GB HBM3", total_memory=85 * 2**30, major=9, minor=0)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda index: props)
    versions = framework.versions()
    assert versions["gpu"] == "NVIDIA H100 80GB HBM3"
    assert versions["gpu_total_memory_bytes"] == str(85 * 2**30)
    assert versions["gpu_compute_capability"] == "9.0"
    assert framework.settings("gpu", "graph")["gpu_compute_capability"] == "9.0"
    assert "gpu" not in framework.settings("cpu", "eager")


def test_sync_synchronises_cuda_and_only_cuda(monkeypatch):
    calls = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: calls.append(device))
    model = TorchModel(MLP, torch.device("cpu"), "eager")
    model.sync()
    assert calls == []
    model.device = torch.device("cuda", 0)  # as built on a GPU; only sync() is exercised
    model.sync()
    assert calls == [torch.device("cuda", 0)]


def test_peak_device_memory_is_none_on_cpu(framework):
    assert framework.peak_device_memory_bytes("cpu") is None


# -- numerics ---------------------------------------------------------------------------------


def test_numerics_are_true_fp32(framework):
    framework.build(MLP, "cpu", "eager")
    settings = framework.settings("cpu", "eager")
    assert settings["tf32"] is False and settings["dtype"] == "float32" and settings["precision"] == "fp32"
    assert not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.allow_tf32
    assert settings["intra_op_threads"] == 2 and settings["inter_op_threads"] == 1


def test_tf32_on_cpu_is_unsupported(framework):
    with pytest.raises(Unsupported, match="tf32"):
        framework.build(MLP, "cpu", "eager", precision="tf32")
    with pytest.raises(Unsupported, match="tf32"):
        framework.settings("cpu", "eager", precision="tf32")
    with pytest.raises(Unsupported, match="precision"):
        framework.build(MLP, "cpu", "eager", precision="fp16")


def test_precision_switches_both_tf32_flags():
    impl.set_precision("tf32")
    assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32
    assert impl.tf32_enabled()
    impl.set_precision("fp32")
    assert not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.allow_tf32


def test_fp32_build_turns_tf32_off_again(framework):
    impl.set_precision("tf32")  # as a tf32 build would have left it
    framework.build(MLP, "cpu", "eager", precision="fp32")
    assert not impl.tf32_enabled()


@pytest.mark.skipif(not hasattr(torch, "_fused_sgd_"), reason="this torch has no fused SGD kernel")
def test_fused_and_foreach_sgd_compute_the_same_update():
    """eager on CUDA uses fused=True, the other paths foreach=True: the same arithmetic (p - lr*g).
    Checked on CPU, where both kernels exist; the CUDA kernels can only be compared on a GPU."""
    images, labels = torch.from_numpy(random_batch(32)[0]), torch.from_numpy(random_batch(32)[1])
    weights = {}
    for kind in ("fused", "foreach"):
        net = mlp()
        net.load_state_dict({k: torch.from_numpy(v) for k, v in MLP.initial_weights(seed=1).items()})
        opt = torch.optim.SGD(net.parameters(), lr=0.1, **{kind: True})
        for _ in range(3):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(images), labels).backward()
            opt.step()
        weights[kind] = {k: v.detach().clone() for k, v in net.named_parameters()}
    for name in weights["fused"]:
        assert torch.equal(weights["fused"][name], weights["foreach"][name]), name


# -- layers and modes -------------------------------------------------------------------------


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_layers_are_named_as_the_canonical_weights(spec):
    model = TorchModel(spec, torch.device("cpu"), "eager")
    shapes = {name: tuple(p.shape) for name, p in model.net.named_parameters()}
    assert shapes == spec.weight_shapes()


@pytest.mark.parametrize("mode", ["graph", "epoch-graph"])
def test_graph_modes_on_cpu_are_skipped_with_the_reason(framework, mode):
    assert framework.MODES == ("eager", "compile", "graph", "epoch-graph")
    with pytest.raises(Unsupported, match=rf"^{mode} mode captures CUDA graphs and needs a CUDA GPU"):
        framework.build(MLP, "cpu", mode)


@pytest.mark.parametrize("mode", ["graph", "epoch-graph"])
def test_graph_modes_without_cuda_name_the_missing_gpu(framework, monkeypatch, mode):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(Unsupported, match=r"no CUDA GPU visible"):
        framework.build(MLP, "gpu", mode)


def test_epoch_graph_refuses_a_native_loader_with_the_fix(fashion):
    model = TorchModel(MLP, torch.device("cpu"), "epoch-graph")
    source = NativeSource(fashion.train_images[:8], fashion.train_labels[:8], fashion.source, "train", 0)
    with pytest.raises(Unsupported, match=r"use --input device, or mode graph"):
        model.native_input(source)


def test_compile_on_cpu_without_a_compiler_is_unsupported(framework, monkeypatch):
    monkeypatch.setattr(impl.shutil, "which", lambda name: None)
    with pytest.raises(Unsupported, match="C\\+\\+ compiler"):
        framework.build(MLP, "cpu", "compile")


def test_settings_record_what_each_mode_runs(framework):
    assert framework.settings("cpu", "eager")["compiled"] == "nothing"
    assert "2 graphs" in framework.settings("cpu", "compile")["compiled"]
    assert framework.settings("gpu", "eager")["optimizer"] == "torch.optim.SGD(fused=True)"
    assert "foreach" in framework.settings("cpu", "eager")["optimizer"]
    assert "whole SGD step" in framework.settings("gpu", "graph")["cuda_graph"]
    assert "replayed once per epoch" in framework.settings("gpu", "epoch-graph")["cuda_graph"]
    assert "lr baked in" in framework.settings("gpu", "epoch-graph")["optimizer"]
    assert framework.settings("gpu", "eager")["cuda_graph"] == "none"


def train_a_few_steps(framework, spec, mode, lr_schedule, seed=3):
    model = framework.build(spec, "cpu", mode)
    model.set_weights(spec.initial_weights(seed=seed))
    images, labels = random_batch(80, seed=seed)
    data = model.put(images, labels)
    stats = [
        model.train_epoch(data, np.random.default_rng(e).permutation(80), batch_size=32, lr=lr)
        for e, lr in enumerate(lr_schedule)
    ]
    return model, stats


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_compile_matches_eager(framework, spec):
    """Three batches (32, 32, 16) per epoch, two epochs, two learning rates: the compiled step ends at
    the eager weights up to float32 rounding (Inductor fuses and reorders float ops)."""
    schedule = [spec.lr, spec.lr / 2]
    eager, eager_stats = train_a_few_steps(framework, spec, "eager", schedule)
    compiled, compiled_stats = train_a_few_steps(framework, spec, "compile", schedule)
    for a, b in zip(eager_stats, compiled_stats, strict=True):
        assert b.loss == pytest.approx(a.loss, rel=1e-5)
        assert b.accuracy == a.accuracy
    expected, actual = eager.get_weights(), compiled.get_weights()
    for name in expected:
        np.testing.assert_allclose(actual[name], expected[name], rtol=1e-4, atol=1e-6, err_msg=name)


def test_a_new_learning_rate_does_not_recompile(framework):
    from torch._dynamo.utils import counters

    model, _ = train_a_few_steps(framework, MLP, "compile", [0.1])  # compiles batch shapes 32 and 16
    compiled_before = counters["stats"]["unique_graphs"]
    images, labels = random_batch(80, seed=9)
    data = model.put(images, labels)
    before = model.get_weights()
    model.train_epoch(data, np.arange(80), batch_size=32, lr=0.0)  # lr 0: the weights must not move
    assert counters["stats"]["unique_graphs"] == compiled_before
    for name, value in model.get_weights().items():
        np.testing.assert_array_equal(value, before[name], err_msg=name)
    model.train_epoch(data, np.arange(80), batch_size=32, lr=0.05)
    assert counters["stats"]["unique_graphs"] == compiled_before
    assert any(not np.array_equal(v, before[k]) for k, v in model.get_weights().items())


def test_compile_compiles_the_whole_step_in_two_graphs():
    """What COMPILED_STEP records: Dynamo breaks only at loss.backward(); the forward graph holds the
    loss and the argmax, the second graph the SGD update (on this torch version)."""
    import torch._dynamo

    model = TorchModel(MLP, torch.device("cpu"), "compile")
    images, labels = random_batch(16)
    model.optimizer.zero_grad(set_to_none=True)
    explained = torch._dynamo.explain(model._train_step)(torch.from_numpy(images), torch.from_numpy(labels))
    assert explained.graph_count == 2 and explained.graph_break_count == 1
    assert "backward" in str(explained.break_reasons[0].reason)
    forward_ops = {str(node.target) for node in explained.graphs[0].graph.nodes}
    update_ops = {str(node.target) for node in explained.graphs[1].graph.nodes}
    assert any("cross_entropy" in op for op in forward_ops) and any("argmax" in op for op in forward_ops)
    assert any("_foreach" in op for op in update_ops)


# -- peak -------------------------------------------------------------------------------------


def test_peak_gflops_is_2n3_over_the_best_time_of_a_2048_product(framework, monkeypatch):
    """A fake clock makes every timed call take a known time: gflops must be 2 n^3 / best / 1e9 with
    n = 2048 on CPU, the warm-up call (the slowest here) dropped, and the product really run."""
    durations = iter([9.0, 0.5, 0.4, 0.25, 0.3, 0.6])  # warm-up, then 5 timed calls; best 0.25
    now = [0.0]
    calls = []

    def perf_counter():
        return now[0]

    real_mm = torch.mm

    def counting_mm(a, b, out=None):
        calls.append(a.shape)
        result = real_mm(a, b, out=out)
        now[0] += next(durations)
        return result

    monkeypatch.setattr(bench.contract, "time", types.SimpleNamespace(perf_counter=perf_counter))
    monkeypatch.setattr(impl.torch, "mm", counting_mm)
    peak = framework.peak_gflops("cpu")
    assert calls == [torch.Size([2048, 2048])] * 6
    assert peak["gflops"] == pytest.approx(2 * 2048**3 / 0.25 / 1e9)
    assert "2048x2048" in peak["method"] and "fp32" in peak["method"] and "best of 5" in peak["method"]


def test_peak_gflops_measures_with_tf32_off_and_restores_it(framework, monkeypatch):
    seen = []

    def spy(matmul, sync, n, label):
        seen.append((impl.tf32_enabled(), n))
        return {"gflops": 1.0, "method": label}

    monkeypatch.setattr(impl, "time_peak_matmul", spy)
    impl.set_precision("tf32")  # as a tf32 run leaves the process
    framework.peak_gflops("cpu")
    assert seen == [(False, 2048)]
    assert impl.tf32_enabled()  # the run's own setting is back


# -- native input -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fashion():
    pytest.importorskip("torchvision", reason="the native input path needs torchvision")
    from bench import data

    try:
        return data.load(allow_download=False)
    except data.DataError as exc:
        pytest.skip(f"Fashion-MNIST is not installed here: {exc}")


@pytest.fixture(scope="module")
def native_model():
    return TorchModel(LENET, torch.device("cpu"), "eager")


@pytest.mark.parametrize("workers", [0, 2])
def test_native_loader_follows_the_given_order(fashion, native_model, workers):
    from torchvision.datasets import FashionMNIST

    from bench.data import Dataset

    source = NativeSource(fashion.train_images, fashion.train_labels, fashion.source, "train", workers)
    data = native_model.native_input(source)
    assert isinstance(data.dataset, FashionMNIST) and data.loader(16).num_workers == workers
    for seed in (1, 2):  # two epochs, two orders: the sampler follows each (persistent workers too)
        order = np.random.default_rng(seed).permutation(len(fashion.train_labels))[:40]
        batches = list(native_model.native_batches(data, order, batch_size=16))
        assert [len(y) for _, y in batches] == [16, 16, 8]
        for i, (x, y) in enumerate(batches):
            idx = order[16 * i : 16 * (i + 1)]
            assert x.dtype == np.float32 and x.shape == (len(idx), 1, 28, 28) and y.dtype == np.int64
            np.testing.assert_array_equal(x, Dataset.as_float(fashion.train_images[idx]))  # bit-exact
            np.testing.assert_array_equal(y, fashion.train_labels[idx])


def test_native_train_epoch_trains_on_the_loaders_batches(fashion):
    """train_epoch on the torchvision loader gives the device path's result for the same order."""
    from bench.data import Dataset

    order = np.random.default_rng(3).permutation(len(fashion.train_labels))[:72]
    results = []
    for native in (True, False):
        model = TorchModel(MLP, torch.device("cpu"), "eager")
        model.set_weights(MLP.initial_weights(seed=5))
        if native:
            data = model.native_input(NativeSource(fashion.train_images, fashion.train_labels, "", "train"))
            stats = model.train_epoch(data, order, batch_size=32, lr=MLP.lr)
        else:
            data = model.put(Dataset.as_float(fashion.train_images[order]), fashion.train_labels[order])
            stats = model.train_epoch(data, np.arange(72), batch_size=32, lr=MLP.lr)
        results.append((stats, model.get_weights()))
    (native_stats, native_weights), (device_stats, device_weights) = results
    assert native_stats == device_stats
    for name in device_weights:
        np.testing.assert_array_equal(native_weights[name], device_weights[name], err_msg=name)


def test_native_input_without_torchvision_is_unsupported_with_the_reason(native_model, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "torchvision", None)  # makes `import torchvision` fail
    images = np.zeros((2, 28, 28), np.uint8)
    with pytest.raises(Unsupported, match="native input path needs torchvision"):
        native_model.native_input(NativeSource(images, np.zeros(2, np.int64), "", "train"))


def test_compile_on_cuda_without_triton_is_unsupported(framework, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(impl.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(Unsupported, match="triton"):
        framework.build(MLP, "gpu", "compile")


def test_native_input_rejects_an_unknown_split(native_model):
    pytest.importorskip("torchvision", reason="the native input path needs torchvision")
    images = np.zeros((2, 28, 28), np.uint8)
    with pytest.raises(ValueError, match="split"):
        native_model.native_input(NativeSource(images, np.zeros(2, np.int64), "", "validation"))


def test_idx_bytes_are_what_torchvision_reads(tmp_path):
    pytest.importorskip("torchvision", reason="the native input path needs torchvision")
    from torchvision.datasets.mnist import read_image_file, read_label_file

    images = np.arange(2 * 28 * 28, dtype=np.uint32).astype(np.uint8).reshape(2, 28, 28)
    (tmp_path / "i").write_bytes(idx_bytes(images))
    (tmp_path / "l").write_bytes(idx_bytes(np.array([3, 7], np.uint8)))
    np.testing.assert_array_equal(read_image_file(str(tmp_path / "i")).numpy(), images)
    np.testing.assert_array_equal(read_label_file(str(tmp_path / "l")).numpy(), [3, 7])


# -- graph mode's bookkeeping, with CPU stand-ins for the CUDA graph API ------------------------


class FakeStream:
    def wait_stream(self, other):
        pass


class fake_stream_context:
    """Stands in for torch.cuda.stream(side): the warm-up just runs eagerly on CPU."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class FakeGraph:
    """Stands in for torch.cuda.CUDAGraph on CPU: replay re-runs the step on the captured static
    tensors and writes the static outputs, which is what replaying the real graph does."""

    model = None  # set by the test

    def replay(self):
        captured = next(c for c in self.model.graphs.values() if c.graph is self)
        self.model.optimizer.zero_grad(set_to_none=True)
        loss, predictions = self.model._train_step(captured.images, captured.labels)
        captured.loss.copy_(loss)
        captured.predictions.copy_(predictions)


class fake_capture:
    """Stands in for torch.cuda.graph(g): capturing runs no kernel, so the weights must not move."""

    captures: ClassVar[list] = []

    def __init__(self, graph, stream=None):
        self.graph = graph

    def __enter__(self):
        self.before = {k: v.detach().clone() for k, v in FakeGraph.model.params.items()}
        return self

    def __exit__(self, *exc):
        with torch.no_grad():
            for name, value in self.before.items():
                FakeGraph.model.params[name].copy_(value)
        fake_capture.captures.append(self.graph)
        return False


def use_fake_cuda_graphs(monkeypatch, graph_class):
    """Replace the CUDA stream and graph API with the CPU stand-ins above, ``graph_class`` as
    torch.cuda.CUDAGraph; fake_capture.captures starts empty."""
    monkeypatch.setattr(torch.cuda, "Stream", lambda device=None: FakeStream())
    monkeypatch.setattr(torch.cuda, "current_stream", lambda device=None: FakeStream())
    monkeypatch.setattr(torch.cuda, "stream", lambda stream: fake_stream_context())
    monkeypatch.setattr(torch.cuda, "CUDAGraph", graph_class)
    monkeypatch.setattr(torch.cuda, "graph", fake_capture)
    monkeypatch.setattr(fake_capture, "captures", [])


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_graph_mode_bookkeeping_matches_eager(spec, monkeypatch):
    """The capture recipe around the CUDA calls: warm-up steps leave the weights as set, one graph
    per batch shape (32 and the last 16), batches gathered into the static inputs in the given
    order, per-step loss/predictions read from the static outputs, a new lr captures again. The
    CUDA calls themselves (capture legality, replay) can only be checked on a GPU."""
    use_fake_cuda_graphs(monkeypatch, FakeGraph)

    images, labels = random_batch(80, seed=4)
    results = {}
    for mode in ("eager", "graph"):
        model = TorchModel(spec, torch.device("cpu"), mode)
        monkeypatch.setattr(FakeGraph, "model", model)
        model.set_weights(spec.initial_weights(seed=6))
        data = model.put(images, labels)
        stats = [
            model.train_epoch(data, np.random.default_rng(e).permutation(80), batch_size=32, lr=lr)
            for e, lr in enumerate([spec.lr, spec.lr, spec.lr / 2])
        ]
        results[mode] = (stats, model.get_weights())
        if mode == "graph":
            assert sorted(model.graphs) == [16, 32]
            assert len(fake_capture.captures) == 4  # two shapes, captured again for the new lr
    (eager_stats, eager_weights), (graph_stats, graph_weights) = results["eager"], results["graph"]
    assert graph_stats == eager_stats
    for name in eager_weights:
        np.testing.assert_array_equal(graph_weights[name], eager_weights[name], err_msg=name)


class FakeEpochGraph:
    """Stands in for torch.cuda.CUDAGraph in epoch-graph mode: replay re-runs the captured epoch body
    on the static order and buffers and writes the static sums, which is what the real replay does."""

    model = None  # set by the test

    def replay(self):
        model = self.model
        captured = model.epoch_graph
        assert captured.graph is self
        batch_size = captured.key[3]
        loss_sum, correct = model._epoch_steps(*captured.data, captured.order, batch_size, *captured.buffers)
        captured.loss_sum.copy_(loss_sum)
        captured.correct.copy_(correct)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_epoch_graph_bookkeeping_matches_eager(spec, monkeypatch):
    """epoch-graph around the CUDA calls: warm-up leaves the weights as set, the epoch's order is
    copied into the static order before each replay, the static sums give the epoch's loss and
    accuracy, and a new lr or a new data set captures again (a same-key epoch does not). The CUDA
    calls themselves (capture legality, replay) can only be checked on a GPU."""
    use_fake_cuda_graphs(monkeypatch, FakeEpochGraph)

    images, labels = random_batch(80, seed=5)
    results = {}
    for mode in ("eager", "epoch-graph"):
        model = TorchModel(spec, torch.device("cpu"), mode)
        monkeypatch.setattr(FakeEpochGraph, "model", model)
        monkeypatch.setattr(FakeGraph, "model", model)  # fake_capture restores this model's weights
        model.set_weights(spec.initial_weights(seed=7))
        data, other = model.put(images, labels), model.put(images[:48], labels[:48])
        stats = [
            model.train_epoch(data, np.random.default_rng(e).permutation(80), batch_size=32, lr=lr)
            for e, lr in enumerate([spec.lr, spec.lr, spec.lr / 2])
        ]
        stats.append(model.train_epoch(other, np.arange(48)[::-1].copy(), batch_size=32, lr=spec.lr / 2))
        results[mode] = (stats, model.get_weights())
        if mode == "epoch-graph":
            assert len(fake_capture.captures) == 3  # first epoch, the new lr, the new data set
            assert model.epoch_graph.key[2:] == (48, 32, spec.lr / 2)
    (eager_stats, eager_weights), (graph_stats, graph_weights) = results["eager"], results["epoch-graph"]
    assert graph_stats == eager_stats
    for name in eager_weights:
        np.testing.assert_array_equal(graph_weights[name], eager_weights[name], err_msg=name)


def test_the_compile_cache_goes_where_the_session_says_and_is_recorded(monkeypatch, tmp_path):
    monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR", raising=False)
    monkeypatch.setenv(impl.COMPILE_CACHE_ENV, str(tmp_path))
    framework = TorchFramework(threads=1)
    recorded = framework.settings("cpu", "compile")["compile_cache"]
    assert recorded.startswith(f"FX graph + AOTAutograd + Triton caches in {tmp_path}/torch")
    from torch._inductor.runtime.cache_dir_utils import cache_dir

    assert cache_dir() == str(tmp_path / "torch")  # where Inductor itself now writes
    assert framework.settings("cpu", "eager")["compile_cache"] == "n/a (nothing compiled)"

"""PyTorch-specific tests: device selection (with and without CUDA), sync, and declared numerics."""

from __future__ import annotations

import pytest
import torch

from bench.contract import Unsupported
from bench.specs import MLP
from impls.torch import TorchFramework, TorchModel


@pytest.fixture(scope="module")
def framework():
    return TorchFramework(threads=2)


def test_without_cuda_gpu_is_unsupported_with_the_reason(framework, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert framework.devices() == ["cpu"]
    with pytest.raises(Unsupported, match=r"no CUDA GPU visible to torch .*"):
        framework.build(MLP, "gpu", "eager")


def test_with_cuda_gpu_is_offered_and_mapped_to_cuda0(framework, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert framework.devices() == ["cpu", "gpu"]
    assert framework._torch_device("gpu") == torch.device("cuda", 0)
    assert framework._torch_device("cpu") == torch.device("cpu")
    with pytest.raises(Unsupported, match="unknown device 'tpu'"):
        framework._torch_device("tpu")


def test_sync_synchronises_cuda_and_only_cuda(monkeypatch):
    calls = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: calls.append(device))
    model = TorchModel(MLP, torch.device("cpu"), "eager")
    model.sync()
    assert calls == []
    model.device = torch.device("cuda", 0)  # as built on a GPU; only sync() is exercised
    model.sync()
    assert calls == [torch.device("cuda", 0)]


def test_numerics_are_true_fp32(framework):
    settings = framework.settings("cpu", "eager")
    assert settings["tf32"] is False and settings["dtype"] == "float32"
    assert not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.allow_tf32
    assert settings["intra_op_threads"] == 2 and settings["inter_op_threads"] == 1


def test_peak_gflops_is_measured(framework):
    peak = framework.peak_gflops("cpu")
    assert peak["gflops"] > 0 and "2048" in peak["method"]

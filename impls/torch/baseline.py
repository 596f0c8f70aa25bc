"""A plain idiomatic PyTorch training loop: what our harness path is compared against for speed.

Written the way a tutorial would (d2l style), with the data already in tensors: index a batch,
forward, ``cross_entropy``, ``zero_grad``, ``backward``, ``step``. No metrics, no device-side
accumulation: the least work a training loop can do.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
import torch
import torch.nn.functional as F

from bench.specs import ModelSpec
from impls.torch import TorchModel


def plain_epochs(
    spec: ModelSpec,
    weights: dict[str, np.ndarray],
    images: np.ndarray,
    labels: np.ndarray,
    batch_size: int,
    lr: float,
    seed: int,
    device: str,
) -> Iterator[float]:
    """Train from ``weights`` with a textbook loop; yield the wall seconds of each epoch, forever."""
    dev = torch.device("cuda" if device == "gpu" else "cpu")
    holder = TorchModel(spec, dev, "eager")  # only to build the same nn.Sequential and load weights
    holder.set_weights(weights)
    net = holder.net
    optimizer = torch.optim.SGD(net.parameters(), lr=lr)
    x, y = torch.from_numpy(images).to(dev), torch.from_numpy(labels).to(dev)
    generator = torch.Generator().manual_seed(seed)
    while True:
        if dev.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        perm = torch.randperm(len(y), generator=generator).to(dev)
        for i in range(0, len(y), batch_size):
            idx = perm[i : i + batch_size]
            loss = F.cross_entropy(net(x[idx]), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        yield time.perf_counter() - start


SKILLED: dict[str, str] = {
    "eager": "resident tensors, torch.randperm each epoch, index_select batches, "
    "torch.optim.SGD(foreach=True), zero_grad(set_to_none=True), loss.backward(), step()",
    "compile": "the same loop with the network under torch.compile(dynamic=False) and optimizer.step() under "
    "torch.compile (torch's compiled-optimizer recipe)",
}


def skilled_epochs(
    spec: ModelSpec,
    weights: dict[str, np.ndarray],
    images: np.ndarray,
    labels: np.ndarray,
    batch_size: int,
    lr: float,
    seed: int,
    device: str,
    mode: str,
    trained: dict[str, np.ndarray] | None = None,
) -> Iterator[float]:
    """Train from ``weights`` with the loop a skilled PyTorch user writes for ``mode`` (``SKILLED``);
    yield the wall seconds of each epoch, forever. ``trained``, when given, receives the canonical
    ``weights`` and the epoch's ``order`` after each epoch, off the clock (for tests)."""
    if mode not in SKILLED:
        raise ValueError(f"no skilled torch loop for mode {mode!r}; choose one of: {', '.join(SKILLED)}")
    dev = torch.device("cuda" if device == "gpu" else "cpu")
    holder = TorchModel(spec, dev, "eager")  # only to build the same nn.Sequential and load weights
    holder.set_weights(weights)
    net = holder.net
    optimizer = torch.optim.SGD(net.parameters(), lr=lr, foreach=True)
    forward, update = net, optimizer.step
    if mode == "compile":
        forward = torch.compile(net, dynamic=False)

        @torch.compile(fullgraph=False)
        def update() -> None:  # torch's "compiling the optimizer" recipe
            optimizer.step()

    x, y = torch.from_numpy(images).to(dev), torch.from_numpy(labels).to(dev)
    generator = torch.Generator().manual_seed(seed)
    while True:
        if dev.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        perm = torch.randperm(len(y), generator=generator).to(dev)
        for i in range(0, len(y), batch_size):
            idx = perm[i : i + batch_size]
            loss = F.cross_entropy(forward(x.index_select(0, idx)), y.index_select(0, idx))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            update()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        if trained is not None:
            trained.update(weights=holder.get_weights(), order=perm.cpu().numpy())
        yield seconds

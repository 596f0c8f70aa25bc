"""A plain idiomatic PyTorch training loop: what our harness path is compared against for speed.

Written the way a tutorial would (d2l style), with the data already in tensors: index a batch,
forward, ``cross_entropy``, ``zero_grad``, ``backward``, ``step``. No metrics, no device-side
accumulation: the least work a training loop can do.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn.functional as F

from bench.loops import LoopArgs, skilled_loop, timed_epochs
from impls.torch import TorchModel


def _setup(
    args: LoopArgs, **sgd: bool
) -> tuple[torch.device, TorchModel, torch.optim.SGD, Iterator[torch.Tensor]]:
    """The device, the same ``nn.Sequential`` from ``args.weights``, its SGD, the epochs' permutations."""
    dev = torch.device("cuda" if args.device == "gpu" else "cpu")
    holder = TorchModel(args.spec, dev, "eager")  # only to build the same nn.Sequential and load weights
    holder.set_weights(dict(args.weights))
    optimizer = torch.optim.SGD(holder.net.parameters(), lr=args.lr, **sgd)
    generator = torch.Generator().manual_seed(args.seed)
    orders = iter(lambda: torch.randperm(args.n, generator=generator).to(dev), None)
    return dev, holder, optimizer, orders


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize()


def plain_epochs(args: LoopArgs) -> Iterator[float]:
    """Train from ``args.weights`` with a textbook loop; yield the wall seconds of each epoch, forever."""
    dev, holder, optimizer, orders = _setup(args)
    net = holder.net
    x, y = torch.from_numpy(args.images).to(dev), torch.from_numpy(args.labels).to(dev)

    def epoch(_: None) -> None:
        perm = next(orders)
        for i in range(0, args.n, args.batch_size):
            idx = perm[i : i + args.batch_size]
            loss = F.cross_entropy(net(x[idx]), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    return timed_epochs(
        epoch, sync=lambda: _sync(dev), trained=args.trained, read=lambda _: {"weights": holder.get_weights()}
    )


SKILLED: dict[str, str] = {
    "eager": "resident tensors, torch.randperm each epoch, index_select batches, "
    "torch.optim.SGD(foreach=True), zero_grad(set_to_none=True), loss.backward(), step()",
    "compile": "the same loop with the network under torch.compile(dynamic=False) and optimizer.step() under "
    "torch.compile (torch's compiled-optimizer recipe)",
}


@skilled_loop("torch", SKILLED)
def skilled_epochs(args: LoopArgs) -> Iterator[float]:
    """Train from ``args.weights`` with the loop a skilled PyTorch user writes for ``args.mode``
    (``SKILLED``); yield the wall seconds of each epoch, forever."""
    dev, holder, optimizer, orders = _setup(args, foreach=True)
    net = holder.net
    forward, update = net, optimizer.step
    if args.mode == "compile":
        forward = torch.compile(net, dynamic=False)

        @torch.compile(fullgraph=False)
        def update() -> None:  # torch's "compiling the optimizer" recipe
            optimizer.step()

    x, y = torch.from_numpy(args.images).to(dev), torch.from_numpy(args.labels).to(dev)

    def epoch(_: None) -> torch.Tensor:
        perm = next(orders)
        for i in range(0, args.n, args.batch_size):
            idx = perm[i : i + args.batch_size]
            loss = F.cross_entropy(forward(x.index_select(0, idx)), y.index_select(0, idx))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            update()
        return perm

    def read(perm: torch.Tensor) -> dict:
        return {"weights": holder.get_weights(), "order": perm.cpu().numpy()}

    return timed_epochs(epoch, sync=lambda: _sync(dev), trained=args.trained, read=read)

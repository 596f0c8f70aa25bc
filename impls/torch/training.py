"""``TorchModel``: one network on one device, trained with plain SGD in a mode (eager, compile,
graph, epoch-graph).

Holds the training step and its optimizer, the ``torch.compile`` wrapping, the CUDA-graph captures
(one step per batch shape, or a whole epoch) and their replay, the epoch loop over device-resident
data or a ``NativeInput`` loader, evaluation, logits and ``sync``. Loss and predictions of every
step go into preallocated device buffers and are reduced once per epoch: no host sync inside the
epoch.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from bench.contract import EVAL_BATCH, EpochStats, EvalStats, NativeSource, Unsupported
from bench.specs import ModelSpec
from impls.torch.models import BUILDERS
from impls.torch.native import NativeInput, fashion_mnist

# What mode "compile" compiles, as recorded in settings(). Checked by test_torch.py with
# torch._dynamo.explain: Dynamo cannot trace Tensor.backward() (graph break), so the one compiled
# function ends up as two graphs, and every kernel of the step is Inductor-generated.
COMPILED_STEP = (
    "torch.compile(dynamic=False) of the whole step function; Dynamo splits it at loss.backward() "
    "into 2 graphs: [forward + cross_entropy + argmax, whose backward AOTAutograd compiles and the "
    "autograd engine runs] and [optimizer.step(): SGD foreach, lr a 0-d device tensor]; "
    "zero_grad(set_to_none=True) runs outside; one compile per batch shape; evaluation compiled too"
)
GRAPH_WARMUP_STEPS = 3  # eager steps on a side stream before capture, as torch's CUDA-graph docs require
GRAPH_MODES = ("graph", "epoch-graph")  # the modes that capture CUDA graphs (CUDA only)


def sgd_optimizer(params: Any, device: torch.device, mode: str, lr: float) -> torch.optim.SGD:
    """Plain SGD (no momentum, no weight decay: ``p -= lr * g``) in the implementation each mode uses.

    eager on CUDA: ``fused=True`` (one kernel for all parameters); otherwise ``foreach=True``
    (graph mode keeps ``foreach``, the path torch's whole-network CUDA-graph example captures).
    Both compute ``p - lr * g`` per element in float32 (CUDA may contract it into one FMA in
    either kernel); on CPU they are bit-identical (tested); on CUDA that can only be checked on a GPU.
    """
    if device.type == "cuda" and mode == "eager":
        return torch.optim.SGD(params, lr=lr, fused=True)
    return torch.optim.SGD(params, lr=lr, foreach=True)


def optimizer_description(device: str, mode: str) -> str:
    """How the update runs, for settings()."""
    if mode == "compile":
        return "torch.optim.SGD(foreach=True, lr=0-d tensor), traced and compiled by Inductor"
    if device == "gpu" and mode == "eager":
        return "torch.optim.SGD(fused=True)"
    if mode in GRAPH_MODES:
        return "torch.optim.SGD(foreach=True), captured in the CUDA graph with lr baked in"
    return "torch.optim.SGD(foreach=True)"


@dataclass
class CapturedStep:
    """One CUDA graph of the whole SGD step for one batch size, with its static tensors."""

    graph: Any  # torch.cuda.CUDAGraph
    images: torch.Tensor  # static inputs: a batch is copied/gathered into these before replay
    labels: torch.Tensor
    loss: torch.Tensor  # static outputs, overwritten by every replay
    predictions: torch.Tensor


@dataclass
class CapturedEpoch:
    """One CUDA graph of a whole epoch over device-resident data: every step's gather, forward, loss,
    backward and update, and the epoch's loss and accuracy sums. Replayed once per epoch after the
    epoch's order is copied into ``order``."""

    key: tuple[int, int, int, int, float]  # (images ptr, labels ptr, examples, batch size, lr)
    graph: Any  # torch.cuda.CUDAGraph
    data: tuple[torch.Tensor, torch.Tensor]  # the resident data the graph reads: kept alive with it
    order: torch.Tensor  # static input: the epoch's permutation of the examples
    loss_sum: torch.Tensor  # static outputs: sum of per-example losses, number correct
    correct: torch.Tensor
    buffers: tuple[torch.Tensor, ...]  # the graph's intermediate buffers, kept alive with it


class TorchModel:
    """A PyTorch model on one device, trained with plain SGD in one of the modes."""

    def __init__(self, spec: ModelSpec, device: torch.device, mode: str = "eager") -> None:
        self.spec = spec
        self.device = device
        self.mode = mode
        self.net = BUILDERS[spec.name]().to(device)
        # nn.Sequential(OrderedDict) names the parameters exactly as the canonical weights
        # ("conv1.weight", ...), and PyTorch's layouts (OIHW, out x in, C*H*W flatten) are canonical.
        self.params = dict(self.net.named_parameters())
        self.graphs: dict[int, CapturedStep] = {}
        self.graph_lr: float | None = None
        self.epoch_graph: CapturedEpoch | None = None
        if mode == "compile":
            # lr as a 0-d tensor on the device: a new lr is an in-place fill, never a recompile.
            self.lr = torch.tensor(spec.lr, dtype=torch.float32, device=device)
            self.optimizer = torch.optim.SGD(self.net.parameters(), lr=self.lr, foreach=True)
            self.step = torch.compile(self._train_step, dynamic=False)
            self.forward = torch.compile(self.net, dynamic=False)
        else:
            self.optimizer = sgd_optimizer(self.net.parameters(), device, mode, spec.lr)
            self.step = self._train_step
            self.forward = self.net

    # -- weights and data

    def set_weights(self, weights: dict[str, np.ndarray]) -> None:
        """Load canonical-layout weights (in place: captured graphs keep pointing at them)."""
        with torch.no_grad():
            for name, param in self.params.items():
                param.copy_(torch.from_numpy(np.ascontiguousarray(weights[name], dtype=np.float32)))

    def get_weights(self) -> dict[str, np.ndarray]:
        """Return the weights in the canonical layout."""
        return {k: v.detach().cpu().numpy().copy() for k, v in self.params.items()}

    def put(self, images: np.ndarray, labels: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Copy a data set to the device once."""
        return torch.from_numpy(images).to(self.device), torch.from_numpy(labels).to(self.device)

    def native_input(self, source: NativeSource) -> NativeInput:
        """torchvision's FashionMNIST over the verified arrays, read through a DataLoader with
        ``source.workers`` workers (pinned host memory when training on CUDA)."""
        if self.mode == "epoch-graph":
            raise Unsupported(
                "epoch-graph mode captures the whole epoch, gather included, over device-resident "
                "data; a host DataLoader cannot be inside a CUDA graph (use --input device, or mode graph)"
            )
        return NativeInput(fashion_mnist(source), source.workers, pin_memory=self.device.type == "cuda")

    def native_batches(
        self, data: NativeInput, order: np.ndarray, batch_size: int
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """The DataLoader's host batches for ``order``: the loader ``train_epoch`` consumes."""
        for images, labels in data.epoch(order, batch_size):
            yield images.numpy(), labels.numpy()

    # -- training

    def _train_step(self, images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Forward, mean cross-entropy, backward, SGD update; grads must be None on entry."""
        logits = self.net(images)
        loss = F.cross_entropy(logits, labels)
        # detach and argmax before backward: they join the forward graph under torch.compile
        value, predictions = loss.detach(), logits.detach().argmax(dim=1)
        loss.backward()
        self.optimizer.step()
        return value, predictions

    def _set_lr(self, lr: float) -> None:
        if self.mode == "compile":
            self.lr.fill_(lr)
            return
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        if self.mode == "graph" and self.graph_lr != lr:
            self.graphs.clear()  # the lr is baked into the captured update: capture again
            self.graph_lr = lr

    def _capture(self, size: int) -> CapturedStep:
        """Capture the whole step for batches of ``size`` (torch's "whole network capture" recipe).

        The warm-up steps train on zeros, so the weights are saved before and restored after them;
        the capture itself runs no kernel. ``zero_grad(set_to_none=True)`` before capture makes the
        graph's backward allocate the gradients from its private pool (assigned, not accumulated).
        """
        images = torch.zeros((size, 1, 28, 28), device=self.device)
        labels = torch.zeros((size,), dtype=torch.int64, device=self.device)
        side = torch.cuda.Stream(self.device)
        self._warm_up(side, [(images, labels)])
        graph = torch.cuda.CUDAGraph()
        # Captured on the warm-up stream, whose cuBLAS/cuDNN handles and workspaces the warm-up has
        # created (what make_graphed_callables does); entering synchronises the device first, so
        # the restore in the warm-up has landed.
        with torch.cuda.graph(graph, stream=side):
            loss, predictions = self._train_step(images, labels)
        return CapturedStep(graph, images, labels, loss, predictions)

    def _warm_up(self, side: Any, steps: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
        """Eager steps on the side stream (lazy cuBLAS/cuDNN/autograd set-up happens outside the
        capture), the weights restored afterwards; leaves the grads None for the capture."""
        saved = [p.detach().clone() for p in self.params.values()]
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):
            for images, labels in steps:
                for _ in range(GRAPH_WARMUP_STEPS):
                    self.optimizer.zero_grad(set_to_none=True)
                    self._train_step(images, labels)
            with torch.no_grad():
                for param, value in zip(self.params.values(), saved, strict=True):
                    param.copy_(value)
        torch.cuda.current_stream(self.device).wait_stream(side)
        self.optimizer.zero_grad(set_to_none=True)

    def _capture_epoch(
        self, key: tuple[int, int, int, int, float], images: torch.Tensor, labels: torch.Tensor
    ) -> CapturedEpoch:
        """Capture a whole epoch as one CUDA graph: ``n`` examples in batches of ``batch_size``, from
        the ``key`` it is kept under (``CapturedEpoch.key``).

        The order is a static index tensor; each step gathers its batch from the resident data by a
        view of it, trains, and writes its loss and predictions into buffers the graph reduces at the
        end. Allocations made while capturing come from the graph's private pool and are reused
        inside it, so memory stays that of about one step.
        """
        n, batch_size = key[2], key[3]
        order = torch.zeros(n, dtype=torch.int64, device=self.device)  # index 0: valid for warm-up
        n_batches = -(-n // batch_size)
        last = n - batch_size * (n_batches - 1)
        sizes = torch.full((n_batches,), float(batch_size), device=self.device)
        sizes[-1] = last
        losses = torch.empty(n_batches, device=self.device)
        predictions = torch.empty(n, dtype=torch.int64, device=self.device)
        shapes = sorted({batch_size, last})
        side = torch.cuda.Stream(self.device)
        warm_up = [(images.index_select(0, order[:s]), labels.index_select(0, order[:s])) for s in shapes]
        self._warm_up(side, warm_up)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, stream=side):
            loss_sum, correct = self._epoch_steps(
                images, labels, order, batch_size, sizes, losses, predictions
            )
        buffers = (sizes, losses, predictions)
        return CapturedEpoch(key, graph, (images, labels), order, loss_sum, correct, buffers)

    def _epoch_steps(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        order: torch.Tensor,
        batch_size: int,
        sizes: torch.Tensor,
        losses: torch.Tensor,
        predictions: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The body epoch-graph mode captures: every step of the epoch in ``order``, then the sums of
        the per-example losses and of the correct predictions (0-d device tensors)."""
        for step, start in enumerate(range(0, len(order), batch_size)):
            batch = order[start : start + batch_size]
            self.optimizer.zero_grad(set_to_none=True)
            loss, batch_predictions = self._train_step(
                torch.index_select(images, 0, batch), torch.index_select(labels, 0, batch)
            )
            losses[step] = loss
            predictions[start : start + batch_size] = batch_predictions
        correct = (predictions == torch.index_select(labels, 0, order)).sum()
        return (losses * sizes).sum(), correct

    def _train_epoch_graph(self, data: Any, order: np.ndarray, batch_size: int, lr: float) -> EpochStats:
        """epoch-graph mode: copy the order in, replay the epoch's graph, read the two sums."""
        images, labels = data  # device-resident: native_input refuses this mode
        n = len(order)
        key = (images.data_ptr(), labels.data_ptr(), n, batch_size, lr)
        if self.epoch_graph is None or self.epoch_graph.key != key:
            self.epoch_graph = None  # free the old graph's pool before capturing the new one
            self.epoch_graph = self._capture_epoch(key, images, labels)
        captured = self.epoch_graph
        self.net.train()
        captured.order.copy_(torch.from_numpy(np.asarray(order, dtype=np.int64)))
        captured.graph.replay()
        return EpochStats(loss=captured.loss_sum.item() / n, accuracy=captured.correct.item() / n)

    def _graph(self, size: int) -> CapturedStep:
        if size not in self.graphs:
            self.graphs[size] = self._capture(size)
        return self.graphs[size]

    def train_epoch(self, data: Any, order: np.ndarray, batch_size: int, lr: float) -> EpochStats:
        """Plain SGD over the batches ``order[i:i + batch_size]``, from ``put``'s device tensors or a
        ``NativeInput`` loader; one host sync, at the end of the epoch."""
        if self.mode == "epoch-graph":
            self._set_lr(lr)
            return self._train_epoch_graph(data, order, batch_size, lr)
        n = len(order)
        n_batches = -(-n // batch_size)
        self._set_lr(lr)
        if self.mode == "graph":  # capture before the loop: the full batch and the last one
            for size in {batch_size, n - batch_size * (n_batches - 1)}:
                self._graph(size)
        # Per-batch loss and predictions go into preallocated device buffers (one small copy each),
        # reduced once at the end of the epoch: no host sync and little work inside the loop.
        losses = torch.empty(n_batches, device=self.device)
        predictions = torch.empty(n, dtype=torch.int64, device=self.device)
        self.net.train()
        if isinstance(data, NativeInput):
            targets = torch.empty(n, dtype=torch.int64, device=self.device)
            start = 0
            for step, (images, labels) in enumerate(data.epoch(order, batch_size)):
                size = len(labels)
                if self.mode == "graph":
                    captured = self._graph(size)
                    captured.images.copy_(images, non_blocking=data.pin_memory)
                    captured.labels.copy_(labels, non_blocking=data.pin_memory)
                    loss, batch_predictions = self._replay(captured)
                    targets[start : start + size] = captured.labels
                else:
                    x = images.to(self.device, non_blocking=data.pin_memory)
                    y = labels.to(self.device, non_blocking=data.pin_memory)
                    self.optimizer.zero_grad(set_to_none=True)
                    loss, batch_predictions = self.step(x, y)
                    targets[start : start + size] = y
                losses[step] = loss
                predictions[start : start + size] = batch_predictions
                start += size
        else:
            images, labels = data
            index = torch.from_numpy(np.asarray(order, dtype=np.int64)).to(self.device)
            targets = labels[index]
            for step, start in enumerate(range(0, n, batch_size)):
                batch = index[start : start + batch_size]
                if self.mode == "graph":
                    captured = self._graph(min(batch_size, n - start))
                    torch.index_select(images, 0, batch, out=captured.images)
                    torch.index_select(labels, 0, batch, out=captured.labels)
                    loss, batch_predictions = self._replay(captured)
                else:
                    self.optimizer.zero_grad(set_to_none=True)
                    loss, batch_predictions = self.step(images[batch], labels[batch])
                losses[step] = loss
                predictions[start : start + batch_size] = batch_predictions
        sizes = torch.full((n_batches,), float(batch_size), device=self.device)
        sizes[-1] = n - batch_size * (n_batches - 1)
        loss_sum = (losses * sizes).sum().item()
        correct = (predictions == targets).sum().item()
        return EpochStats(loss=loss_sum / n, accuracy=correct / n)

    @staticmethod
    def _replay(captured: CapturedStep) -> tuple[torch.Tensor, torch.Tensor]:
        captured.graph.replay()
        return captured.loss, captured.predictions  # read (copied) before the next replay, in order

    @torch.no_grad()
    def evaluate(self, data: Any) -> EvalStats:
        """Mean loss and accuracy over ``data`` (eager network in graph mode)."""
        images, labels = data
        self.net.eval()
        loss_sum, correct = torch.zeros((), device=self.device), torch.zeros((), device=self.device)
        for start in range(0, len(labels), EVAL_BATCH):
            x, y = images[start : start + EVAL_BATCH], labels[start : start + EVAL_BATCH]
            logits = self.forward(x)
            loss_sum += F.cross_entropy(logits, y, reduction="sum")
            correct += (logits.argmax(dim=1) == y).sum()
        return EvalStats(loss=loss_sum.item() / len(labels), accuracy=correct.item() / len(labels))

    @torch.no_grad()
    def logits(self, data: Any) -> np.ndarray:
        """Logits for ``data`` as float32 numpy."""
        self.net.eval()
        images = data[0]
        chunks = [self.forward(images[i : i + EVAL_BATCH]).cpu() for i in range(0, len(images), EVAL_BATCH)]
        return torch.cat(chunks).numpy()

    def sync(self) -> None:
        """Wait for queued CUDA work; CPU ops are synchronous."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
